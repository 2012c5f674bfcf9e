// The auth.* configuration keys and their translation into verifier, JWKS and authorizer options.
#pragma once

#include "bkr/auth/jwks.hpp"
#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/auth/scope_authorizer.hpp"
#include "bkr/common/config.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bkr::auth {

/// The auth.* keys a service adds to its configuration spec (see libs/auth/README.md).
const std::vector<config::key>& config_keys();

struct settings {
  verifier_options verifier;
  std::optional<std::string> jwks_file;
  std::optional<std::string> jwks_url;
  jwks_cache_options jwks;  ///< run_refresh left empty: the composition root decides where refreshes run
  scope_authorizer_options scopes;
};

/// Reads the keys of config_keys() from loaded values. errc::invalid_configuration when they are
/// inconsistent: no way to verify any token, HS256 allowed without a secret, both jwks_file and jwks_url.
result<settings> settings_from(const config::values& values);

}  // namespace bkr::auth
