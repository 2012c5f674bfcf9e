// SHA-256 as lower-case hex text, for fingerprints of payloads and verification hashes.
#pragma once

#include <string>
#include <string_view>

namespace bkr {

/// The SHA-256 of the bytes of `text` as 64 lower-case hex digits. Throws std::runtime_error only when the
/// crypto library fails (it does not for valid input).
std::string sha256_hex(std::string_view text);

}  // namespace bkr
