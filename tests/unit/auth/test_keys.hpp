// Test keys generated at run time, their JWK/PEM forms, and token builders (cpp-jwt and raw OpenSSL).
#pragma once

#include <openssl/types.h>
#include <nlohmann/json.hpp>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::auth::test {

/// A freshly generated key pair. Shared by the tests of one process (generation is slow).
struct key_pair {
  std::shared_ptr<EVP_PKEY> pkey;
  std::string private_pem;
  std::string public_pem;
};

const key_pair& rsa_key_a();
const key_pair& rsa_key_b();
const key_pair& rsa_key_1024();
const key_pair& ec_key_a();
const key_pair& ec_key_b();
const key_pair& ec_key_p384();

nlohmann::json rsa_jwk(const key_pair& key, std::string kid);
nlohmann::json ec_jwk(const key_pair& key, std::string kid);

/// A token signed by cpp-jwt, the way a real issuer library would produce it.
std::string library_token(std::string_view alg, const std::string& key_or_secret,
                          const nlohmann::json& claims, std::optional<std::string> kid = {});

/// Raw signatures over a signing input, for hand-built (malicious) tokens.
std::string rs256_signature(const key_pair& key, std::string_view signing_input);
std::string es256_signature(const key_pair& key, std::string_view signing_input);
std::string hs256_signature(std::string_view secret, std::string_view signing_input);

/// header.payload.signature with base64url parts; `sign` gets the signing input and returns raw bytes.
std::string raw_token(const nlohmann::json& header, const nlohmann::json& claims,
                      const std::function<std::string(std::string_view)>& sign);
std::string part(const nlohmann::json& j);

}  // namespace bkr::auth::test
