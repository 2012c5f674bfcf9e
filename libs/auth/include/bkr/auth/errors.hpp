// Error codes of the auth library: why a token or a key was refused.
#pragma once

#include <string_view>
#include <system_error>

namespace bkr::auth {

/// Every token rejection (missing_token .. missing_expiry) is answered 401 `Unauthorized` by the HTTP layer;
/// the codes exist for logs and metrics. The key, key-set and configuration codes come from loading keys
/// and options, never from verifying a token.
enum class errc {
  missing_token = 1,      // no Authorization header
  malformed,              // not `Bearer <token>`, not a compact JWS, bad base64url, bad JSON, bad claim type
  bad_signature,          // the signature does not verify with the selected key
  algorithm_not_allowed,  // header `alg` is not allowed (incl. `none`) or differs from the key's algorithm
  unknown_key,            // no key matches the token's `kid` (or no single key of its algorithm)
  expired,                // `exp` is past, beyond the leeway
  not_yet_valid,          // `nbf` is in the future, beyond the leeway
  issued_in_future,       // `iat` is in the future, beyond the leeway
  wrong_issuer,           // `iss` missing or not on the allow-list
  wrong_audience,         // `aud` missing or does not contain the configured audience
  missing_subject,        // `sub` missing, not a string, or not 1..256 characters
  missing_expiry,         // `exp` missing
  invalid_key,            // a JWK or PEM key is malformed, unsupported or too weak
  invalid_key_set,        // a JWKS document is malformed or holds no usable key
  key_set_unavailable,    // the JWKS could not be fetched (the last good key set stays in use)
  invalid_configuration,  // verifier options are inconsistent (e.g. no issuer, HS256 without secret)
};

const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// Stable snake_case name of a code (`bad_signature`), for logs and metric labels.
std::string_view to_string(errc e) noexcept;

/// True for the codes that reject a presented token (all map to 401 Unauthorized).
constexpr bool is_token_rejection(errc e) noexcept {
  return e >= errc::missing_token && e <= errc::missing_expiry;
}

}  // namespace bkr::auth

template <>
struct std::is_error_code_enum<bkr::auth::errc> : std::true_type {};
