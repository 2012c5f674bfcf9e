// HTTP-facing error kinds and the one mapping from error codes to HTTP status and wire code.
#pragma once

#include "bkr/common/error.hpp"

#include <exception>
#include <string>
#include <string_view>
#include <system_error>

namespace bkr::http {

/// The failures the HTTP layer answers itself, and the ones other layers report in HTTP terms (an auth
/// step says `unauthorized` or `forbidden`, a use case whose store is saturated says `unavailable`).
enum class errc {
  bad_request = 1,         ///< malformed HTTP, or a request we cannot parse
  unauthorized,            ///< no credentials (a Bearer challenge without error attributes)
  forbidden,               ///< authenticated but not allowed
  not_found,               ///< no route for the path, or the addressed resource does not exist
  method_not_allowed,      ///< the path exists but not with this method
  request_timeout,         ///< the client was too slow
  conflict,                ///< the request clashes with the resource's state
  length_required,         ///< a body-carrying method without Content-Length (chunked bodies are refused)
  payload_too_large,       ///< the body is over the route's limit
  unsupported_media_type,  ///< the route takes JSON and the request says otherwise
  too_many_requests,       ///< rate or concurrency limit reached
  header_too_large,        ///< the request line and headers are over the header limit
  internal,                ///< anything unexpected; the body never says more
  unavailable,             ///< a dependency is unreachable or saturated, or we are stopping; try later
  not_ready,               ///< the ops listener's /readyz answer while a check fails or while draining
  invalid_token,           ///< a bearer token that is malformed, expired, wrongly signed, ... (RFC 6750 3.1)
  invalid_auth_request,    ///< credentials sent ambiguously, e.g. two Authorization fields (RFC 6750 3.1)
  insufficient_scope,      ///< a valid token whose client lacks the route's scope (RFC 6750 3.1)
  idempotency_key_reused,  ///< an Idempotency-Key sent again with another payload (IETF Idempotency-Key)
};

/// The `realm` of the Bearer challenges (RFC 6750 3) this service's answers carry.
inline constexpr std::string_view bearer_realm = "bkr";

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}
inline bkr::error make_error(errc e, std::string message) {
  return {make_error_code(e), std::move(message)};
}

/// How an error is answered: status, the `code` of the JSON body, whether the error's own message may be
/// shown to the client (never for 5xx) and the message to use otherwise, and whether to add `Retry-After`.
struct error_mapping {
  unsigned status = 500;
  std::string_view code = "Internal";
  bool show_message = false;
  std::string_view default_message = "internal error";
  bool retry_after = false;
  /// Whether to add `WWW-Authenticate: Bearer realm="bkr"` (RFC 9110 15.5.2 for every 401; RFC 6750 3)
  /// and its `error` attribute (empty: none, as for a request without credentials); the error's message
  /// becomes `error_description`.
  bool bearer_challenge = false;
  std::string_view bearer_error;
};

/// The `WWW-Authenticate` value for a Bearer challenge: `Bearer realm="bkr"`, plus `, error="<error>",
/// error_description="<description>"` when `error` is not empty. Characters RFC 6750 does not allow in
/// error_description (`"`, `\`, anything outside printable ASCII) are replaced by `?`.
std::string bearer_challenge(std::string_view error, std::string_view description);

/// THE mapping from error codes to HTTP (STYLE.md: one error-to-transport mapping). Knows `bkr::http::errc`
/// and the domain's codes (`bad_data`, `invalid_api_version`, `invalid_json` -> 400 with the domain's wire
/// code); anything else is a 500 `Internal` whose message is not shown. The bearer errors: `unauthorized`
/// and `invalid_token` -> 401 `Unauthorized`, `invalid_auth_request` -> 400 `BadRequest`,
/// `insufficient_scope` -> 403 `Forbidden`, each with its challenge; `idempotency_key_reused` -> 422
/// `IdempotencyKeyReused`.
error_mapping map_error(const std::error_code& ec) noexcept;

/// Turns an exception escaping a handler into an error kind for `map_error`: `bkr::error_exception` keeps
/// its error; a retryable `bkr::infrastructure_error` becomes `unavailable`; everything else `internal`.
/// The exception's text never reaches the client (it is for the log).
bkr::error error_from_exception(std::exception_ptr e);

/// The JSON error body `{"code": ..., "message": ..., "requestId": ...}`.
std::string error_body(std::string_view code, std::string_view message, std::string_view request_id);

}  // namespace bkr::http

template <>
struct std::is_error_code_enum<bkr::http::errc> : std::true_type {};
