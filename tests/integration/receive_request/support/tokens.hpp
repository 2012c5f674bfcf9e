// Signing keys generated at run time, their JWKS, and tokens (valid and deliberately broken) for API tests.
#pragma once

#include <openssl/types.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::rr_test {

/// A key pair used to sign tokens: RS256 (RSA 2048) or ES256 (P-256). No private key is ever written to
/// the repository: keys are generated when a test process first asks for them.
struct signing_key {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string kid;
  std::string alg;  ///< "RS256" or "ES256"
};

const signing_key& rsa_key();        ///< kid "rsa-1", published in the test JWKS
const signing_key& ec_key();         ///< kid "ec-1", published in the test JWKS
const signing_key& rogue_rsa_key();  ///< kid "rsa-1" too, but not the published key

/// {"keys": [...]} with the public parts of `keys`.
std::string jwks_document(const std::vector<const signing_key*>& keys);

inline constexpr std::string_view test_issuer = "bkr-test-issuer";
inline constexpr std::string_view test_audience = "bkr-api";

/// iss, aud, sub, iat, nbf = now, exp = now + 1 h (seconds since the epoch).
nlohmann::json claims_for(std::string_view subject);

/// header.payload.signature signed with `key` (header alg and kid from the key unless given in `header`).
std::string signed_token(const signing_key& key, const nlohmann::json& claims, nlohmann::json header = {});
/// An HS256 token signed with `secret`.
std::string hs256_token(std::string_view secret, const nlohmann::json& claims);
/// `alg: none`, empty signature.
std::string unsigned_token(const nlohmann::json& claims);
/// The token with its payload replaced by `claims` and the original signature kept.
std::string tampered(const std::string& token, const nlohmann::json& claims);

}  // namespace bkr::rr_test
