// The domain's error codes, their wire names, and how callers should treat each (reject or retry).
#pragma once

#include "bkr/common/error.hpp"

#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace bkr::domain {

/// Every expected failure of a domain function. Messages that come with them name the wire field
/// (`backupJobId`, `dataDate`, ...) so they can be shown to a client or written to a dead letter as is.
enum class errc {
  bad_data = 1,         ///< a field breaks its rule or has the wrong JSON type; permanent
  invalid_api_version,  ///< `apiVersion` missing or not one we speak; permanent
  invalid_json,         ///< the text is not JSON, or not a JSON object; permanent
  invalid_transition,   ///< the status machine forbids the move (e.g. a reply for a NotAllowed request);
                        ///< permanent
  too_early,            ///< the request has not yet reached the status this step starts from; retry later
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}
inline bkr::error make_error(errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

/// The code of an HTTP 400 body: `BadData`, `InvalidApiVersion`, `InvalidJson`; `InvalidTransition` and
/// `TooEarly` exist for logs and dead letters (workers never answer HTTP).
std::string_view wire_code(errc e);

/// Same for any error code; nullopt when `ec` does not belong to the domain category.
std::optional<std::string_view> wire_code(const std::error_code& ec);

/// True only for `too_early`: the one domain failure that can go away by waiting (a worker retries it);
/// every other domain failure is permanent (a worker dead-letters it).
bool is_transient(const std::error_code& ec);

}  // namespace bkr::domain

template <>
struct std::is_error_code_enum<bkr::domain::errc> : std::true_type {};
