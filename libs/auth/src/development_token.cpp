// HS256 development tokens minted with cpp-jwt, in the shape `bkrctl token` produces.
#include "bkr/auth/development_token.hpp"

#include "bkr/auth/errors.hpp"

#include <jwt/jwt.hpp>

namespace bkr::auth {

result<std::string> mint_development_token(const development_token_request& request) {
  if (request.secret.size() < 32)
    return bkr::error{make_error_code(errc::invalid_key), "HS256 secret must be at least 32 bytes"};
  if (request.subject.empty() || request.subject.size() > 256)
    return bkr::error{make_error_code(errc::invalid_configuration), "subject must be 1..256 characters"};
  const std::chrono::system_clock::time_point issued{request.issued_at.time_since_epoch()};
  jwt::jwt_object token{jwt::params::algorithm("HS256"), jwt::params::secret(request.secret)};
  token.add_claim("sub", request.subject)
      .add_claim("iss", request.issuer)
      .add_claim("aud", request.audience)
      .add_claim("iat", issued)
      .add_claim("nbf", issued)
      .add_claim("exp", issued + request.ttl);
  if (!request.scope.empty())
    token.add_claim("scope", request.scope);
  std::error_code ec;
  std::string signed_token = token.signature(ec);
  if (ec)
    return bkr::error{make_error_code(errc::invalid_key),
                      "cannot sign the development token: " + ec.message()};
  return signed_token;
}

}  // namespace bkr::auth
