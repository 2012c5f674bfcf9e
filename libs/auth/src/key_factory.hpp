// Internal: building verification keys from their encodings (shared by keys.cpp and jwks.cpp).
#pragma once

#include "bkr/auth/keys.hpp"

#include <nlohmann/json.hpp>

#include <optional>

namespace bkr::auth {

struct key_factory {
  /// A key from one JWK. nullopt: a key of a type this library does not verify with (a JWKS skips it);
  /// an error: a supported key that is malformed.
  static result<std::optional<verification_key>> read_jwk(const nlohmann::json& jwk);
};

}  // namespace bkr::auth
