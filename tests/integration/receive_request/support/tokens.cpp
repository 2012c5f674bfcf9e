// Run-time test keys (OpenSSL 3), their JWKS, and compact JWS tokens built and signed by hand.
#include "tokens.hpp"

#include "bkr/auth/base64url.hpp"

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include <chrono>
#include <stdexcept>

namespace bkr::rr_test {
namespace {

signing_key generate(const char* type, const char* param, std::string kid, std::string alg) {
  EVP_PKEY* raw = std::string_view(type) == "RSA"
                      ? EVP_PKEY_Q_keygen(nullptr, nullptr, type, std::size_t{2048})
                      : EVP_PKEY_Q_keygen(nullptr, nullptr, type, param);
  if (raw == nullptr)
    throw std::runtime_error("key generation failed");
  return {std::shared_ptr<EVP_PKEY>(raw, EVP_PKEY_free), std::move(kid), std::move(alg)};
}

std::string bn_bytes(const signing_key& key, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key.pkey.get(), name, &bn) != 1)
    throw std::runtime_error(std::string("missing key parameter ") + name);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> owned(bn, BN_free);
  const int len = pad > 0 ? pad : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(len), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  return out;
}

nlohmann::json public_jwk(const signing_key& key) {
  if (key.alg == "RS256") {
    return {{"kty", "RSA"},
            {"kid", key.kid},
            {"alg", "RS256"},
            {"use", "sig"},
            {"n", auth::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_RSA_N, 0))},
            {"e", auth::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_RSA_E, 0))}};
  }
  return {{"kty", "EC"},
          {"kid", key.kid},
          {"alg", "ES256"},
          {"use", "sig"},
          {"crv", "P-256"},
          {"x", auth::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", auth::base64url_encode(bn_bytes(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string digest_sign(const signing_key& key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1)
    throw std::runtime_error("sign init failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1)
    throw std::runtime_error("sign failed");
  sig.resize(len);
  if (key.alg != "ES256")
    return sig;
  // JWS ES256 wants r || s (32 bytes each), OpenSSL gives DER.
  const auto* p = reinterpret_cast<const unsigned char*>(sig.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> der(
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())), ECDSA_SIG_free);
  if (!der)
    throw std::runtime_error("bad ECDSA signature");
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(der.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(der.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  return raw;
}

std::string part(const nlohmann::json& j) {
  return auth::base64url_encode(j.dump());
}

}  // namespace

const signing_key& rsa_key() {
  static const signing_key k = generate("RSA", nullptr, "rsa-1", "RS256");
  return k;
}

const signing_key& ec_key() {
  static const signing_key k = generate("EC", "P-256", "ec-1", "ES256");
  return k;
}

const signing_key& rogue_rsa_key() {
  static const signing_key k = generate("RSA", nullptr, "rsa-1", "RS256");
  return k;
}

std::string jwks_document(const std::vector<const signing_key*>& keys) {
  nlohmann::json doc{{"keys", nlohmann::json::array()}};
  for (const auto* k : keys)
    doc["keys"].push_back(public_jwk(*k));
  return doc.dump();
}

nlohmann::json claims_for(std::string_view subject) {
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  return {{"iss", test_issuer}, {"aud", test_audience}, {"sub", subject},
          {"iat", now},         {"nbf", now},           {"exp", now + 3600}};
}

std::string signed_token(const signing_key& key, const nlohmann::json& claims, nlohmann::json header) {
  if (!header.is_object())
    header = nlohmann::json::object();
  if (!header.contains("alg"))
    header["alg"] = key.alg;
  if (!header.contains("kid"))
    header["kid"] = key.kid;
  header["typ"] = "JWT";
  const std::string input = part(header) + "." + part(claims);
  return input + "." + auth::base64url_encode(digest_sign(key, input));
}

std::string hs256_token(std::string_view secret, const nlohmann::json& claims) {
  const std::string input = part({{"alg", "HS256"}, {"typ", "JWT"}}) + "." + part(claims);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(input.data()), input.size(), mac, &len);
  return input + "." + auth::base64url_encode(std::string(reinterpret_cast<const char*>(mac), len));
}

std::string unsigned_token(const nlohmann::json& claims) {
  return part({{"alg", "none"}, {"typ", "JWT"}}) + "." + part(claims) + ".";
}

std::string tampered(const std::string& token, const nlohmann::json& claims) {
  const auto first = token.find('.');
  const auto second = token.find('.', first + 1);
  return token.substr(0, first + 1) + part(claims) + token.substr(second);
}

}  // namespace bkr::rr_test
