// Base64url without padding (RFC 4648 section 5), the encoding of every JWS and JWK field.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bkr::auth {

std::string base64url_encode(std::span<const unsigned char> bytes);
std::string base64url_encode(std::string_view bytes);

/// Strict decoding: only the url-safe alphabet, no padding, no whitespace, and unused trailing bits must be
/// zero (one canonical text per value). Returns nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view text);

}  // namespace bkr::auth
