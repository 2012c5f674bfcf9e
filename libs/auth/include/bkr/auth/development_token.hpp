// Development tokens: HS256 JWTs shaped like those of `bkrctl token`, for local runs, benches and tests.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"

#include <chrono>
#include <string>

namespace bkr::auth {

struct development_token_request {
  std::string secret;  ///< auth.hs256_secret, at least 32 bytes
  std::string subject;
  std::string issuer = "bkr-dev";
  std::string audience = "bkr-api";
  std::string scope;  ///< space-separated; informational only
  timestamp issued_at{};
  std::chrono::seconds ttl{std::chrono::hours{1}};
};

/// A signed token with sub, iss, aud, iat, nbf (= iat), exp (= iat + ttl) and scope. errc::invalid_key for
/// a short secret, errc::invalid_configuration for an empty or over-long subject.
result<std::string> mint_development_token(const development_token_request& request);

}  // namespace bkr::auth
