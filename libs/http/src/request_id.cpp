// Validation of X-Request-Id and W3C traceparent, and the choice of a request's id.
#include "bkr/http/request_id.hpp"

#include "bkr/common/ids.hpp"

namespace bkr::http {
namespace {

bool is_lower_hex(std::string_view s) noexcept {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

bool all_zero(std::string_view s) noexcept {
  return s.find_first_not_of('0') == std::string_view::npos;
}

}  // namespace

std::optional<trace_context> parse_traceparent(std::string_view h) {
  // version(2) '-' trace-id(32) '-' parent-id(16) '-' flags(2)
  constexpr std::size_t base_size = 55;
  if (h.size() < base_size || h[2] != '-' || h[35] != '-' || h[52] != '-')
    return std::nullopt;
  const auto version = h.substr(0, 2);
  const auto trace_id = h.substr(3, 32);
  const auto parent_id = h.substr(36, 16);
  const auto flags = h.substr(53, 2);
  if (!is_lower_hex(version) || !is_lower_hex(trace_id) || !is_lower_hex(parent_id) || !is_lower_hex(flags))
    return std::nullopt;
  if (version == "ff" || all_zero(trace_id) || all_zero(parent_id))
    return std::nullopt;
  if (version == "00" && h.size() != base_size)
    return std::nullopt;
  // A later version may carry more fields after a dash; we read only the ones version 00 defines.
  if (h.size() > base_size && h[base_size] != '-')
    return std::nullopt;
  return trace_context{.header = std::string(h),
                       .version = std::string(version),
                       .trace_id = std::string(trace_id),
                       .parent_id = std::string(parent_id),
                       .flags = std::string(flags)};
}

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (char c : id)
    if (c < 0x20 || c > 0x7e)
      return false;
  return true;
}

request_identity identify_request(std::optional<std::string_view> x_request_id,
                                  std::optional<std::string_view> traceparent) {
  request_identity out;
  if (traceparent)
    out.trace = parse_traceparent(*traceparent);
  if (x_request_id && is_valid_request_id(*x_request_id))
    out.request_id = std::string(*x_request_id);
  else if (out.trace)
    out.request_id = out.trace->trace_id;
  else
    out.request_id = new_uuid_v7();
  return out;
}

}  // namespace bkr::http
