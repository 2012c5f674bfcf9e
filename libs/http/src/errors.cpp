// The HTTP error category and the single mapping of error codes (ours and the domain's) to HTTP answers.
#include "bkr/http/errors.hpp"

#include "bkr/domain/errors.hpp"

#include <nlohmann/json.hpp>

namespace bkr::http {
namespace {

class http_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.http"; }
  std::string message(int value) const override {
    return std::string(map_error({value, category()}).default_message);
  }
};

error_mapping mapping(unsigned status, std::string_view code, std::string_view message, bool show = true) {
  return {.status = status, .code = code, .show_message = show, .default_message = message};
}

error_mapping challenge(error_mapping m, std::string_view bearer_error) {
  m.bearer_challenge = true;
  m.bearer_error = bearer_error;
  return m;
}

error_mapping map_http(errc e) noexcept {
  switch (e) {
    case errc::bad_request:
      return mapping(400, "BadRequest", "malformed request");
    case errc::unauthorized:
      return challenge(mapping(401, "Unauthorized", "missing credentials"), "");
    case errc::invalid_token:
      return challenge(mapping(401, "Unauthorized", "invalid credentials"), "invalid_token");
    case errc::invalid_auth_request:
      return challenge(mapping(400, "BadRequest", "ambiguous credentials"), "invalid_request");
    case errc::insufficient_scope:
      return challenge(mapping(403, "Forbidden", "not allowed"), "insufficient_scope");
    case errc::idempotency_key_reused:
      return mapping(422, "IdempotencyKeyReused", "the Idempotency-Key was used for another request");
    case errc::forbidden:
      return mapping(403, "Forbidden", "not allowed");
    case errc::not_found:
      return mapping(404, "NotFound", "not found");
    case errc::method_not_allowed:
      return mapping(405, "MethodNotAllowed", "method not allowed");
    case errc::request_timeout:
      return mapping(408, "RequestTimeout", "request timed out");
    case errc::conflict:
      return mapping(409, "Conflict", "conflict");
    case errc::length_required:
      return mapping(411, "LengthRequired", "Content-Length required");
    case errc::payload_too_large:
      return mapping(413, "PayloadTooLarge", "request body too large");
    case errc::unsupported_media_type:
      return mapping(415, "UnsupportedMediaType", "Content-Type must be application/json");
    case errc::too_many_requests:
      return mapping(429, "TooManyRequests", "too many requests");
    case errc::header_too_large:
      return mapping(431, "RequestHeaderFieldsTooLarge", "request headers too large");
    case errc::internal:
      return mapping(500, "Internal", "internal error", false);
    case errc::unavailable: {
      auto m = mapping(503, "Unavailable", "temporarily unavailable, try again later", false);
      m.retry_after = true;
      return m;
    }
    case errc::not_ready:
      // Readiness failures name checks, not internals, so the message is shown.
      return mapping(503, "NotReady", "not ready");
  }
  return {};
}

error_mapping map_domain(domain::errc e) noexcept {
  const auto code = domain::wire_code(e);
  switch (e) {
    case domain::errc::bad_data:
    case domain::errc::invalid_api_version:
    case domain::errc::invalid_json:
      return mapping(400, code, "invalid request");
    case domain::errc::invalid_transition:
    case domain::errc::too_early:
      return mapping(409, code, "conflicts with the request's status");
  }
  return {};
}

}  // namespace

const std::error_category& category() noexcept {
  static const http_category instance;
  return instance;
}

error_mapping map_error(const std::error_code& ec) noexcept {
  if (ec.category() == category())
    return map_http(static_cast<errc>(ec.value()));
  if (ec.category() == domain::category())
    return map_domain(static_cast<domain::errc>(ec.value()));
  return {};
}

bkr::error error_from_exception(std::exception_ptr e) {
  try {
    if (e)
      std::rethrow_exception(e);
  } catch (const bkr::error_exception& ex) {
    return ex.err();
  } catch (const bkr::infrastructure_error& ex) {
    return make_error(ex.retryable() ? errc::unavailable : errc::internal, "");
  } catch (...) {
  }
  return make_error(errc::internal, "");
}

std::string bearer_challenge(std::string_view error, std::string_view description) {
  std::string value = "Bearer realm=\"" + std::string(bearer_realm) + "\"";
  if (error.empty())
    return value;
  value += ", error=\"" + std::string(error) + "\", error_description=\"";
  for (const char c : description) {
    const auto u = static_cast<unsigned char>(c);
    value.push_back(u >= 0x20 && u <= 0x7E && c != '"' && c != '\\' ? c : '?');
  }
  value += '"';
  return value;
}

std::string error_body(std::string_view code, std::string_view message, std::string_view request_id) {
  const nlohmann::json body{{"code", code}, {"message", message}, {"requestId", request_id}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace bkr::http
