// Run-time generated test keys and token builders; no private key is ever stored in the repository.
#include "test_keys.hpp"

#include "bkr/auth/base64url.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <jwt/jwt.hpp>

#include <stdexcept>
#include <vector>

namespace bkr::auth::test {
namespace {

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<std::size_t>(len));
}

key_pair make(EVP_PKEY* raw) {
  if (!raw)
    throw std::runtime_error("key generation failed");
  key_pair k;
  k.pkey.reset(raw, EVP_PKEY_free);
  std::unique_ptr<BIO, decltype(&BIO_free)> priv{BIO_new(BIO_s_mem()), BIO_free};
  std::unique_ptr<BIO, decltype(&BIO_free)> pub{BIO_new(BIO_s_mem()), BIO_free};
  if (PEM_write_bio_PrivateKey(priv.get(), raw, nullptr, nullptr, 0, nullptr, nullptr) != 1 ||
      PEM_write_bio_PUBKEY(pub.get(), raw) != 1)
    throw std::runtime_error("PEM export failed");
  k.private_pem = bio_text(priv.get());
  k.public_pem = bio_text(pub.get());
  return k;
}

key_pair make_rsa(std::size_t bits) {
  return make(EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", bits));
}
key_pair make_ec(const char* curve) {
  return make(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", curve));
}

std::string bn_param(const key_pair& key, const char* name, int pad) {
  BIGNUM* bn = nullptr;
  if (EVP_PKEY_get_bn_param(key.pkey.get(), name, &bn) != 1)
    throw std::runtime_error(std::string("no key parameter ") + name);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> owned{bn, BN_free};
  const int len = pad > 0 ? pad : BN_num_bytes(bn);
  std::string out(static_cast<std::size_t>(len), '\0');
  BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), len);
  return out;
}

std::string digest_sign(const key_pair& key, std::string_view input) {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), EVP_MD_CTX_free};
  std::size_t len = 0;
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  if (EVP_DigestSignInit(ctx.get(), nullptr, EVP_sha256(), nullptr, key.pkey.get()) != 1 ||
      EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1)
    throw std::runtime_error("sign init failed");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1)
    throw std::runtime_error("sign failed");
  sig.resize(len);
  return sig;
}

}  // namespace

const key_pair& rsa_key_a() {
  static const key_pair k = make_rsa(2048);
  return k;
}
const key_pair& rsa_key_b() {
  static const key_pair k = make_rsa(2048);
  return k;
}
const key_pair& rsa_key_1024() {
  static const key_pair k = make_rsa(1024);
  return k;
}
const key_pair& ec_key_a() {
  static const key_pair k = make_ec("P-256");
  return k;
}
const key_pair& ec_key_b() {
  static const key_pair k = make_ec("P-256");
  return k;
}
const key_pair& ec_key_p384() {
  static const key_pair k = make_ec("P-384");
  return k;
}

nlohmann::json rsa_jwk(const key_pair& key, std::string kid) {
  return {{"kty", "RSA"},
          {"kid", std::move(kid)},
          {"use", "sig"},
          {"alg", "RS256"},
          {"n", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_N, 0))},
          {"e", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_RSA_E, 0))}};
}

nlohmann::json ec_jwk(const key_pair& key, std::string kid) {
  return {{"kty", "EC"},
          {"kid", std::move(kid)},
          {"use", "sig"},
          {"alg", "ES256"},
          {"crv", "P-256"},
          {"x", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_X, 32))},
          {"y", base64url_encode(bn_param(key, OSSL_PKEY_PARAM_EC_PUB_Y, 32))}};
}

std::string library_token(std::string_view alg, const std::string& key_or_secret,
                          const nlohmann::json& claims, std::optional<std::string> kid) {
  jwt::jwt_object obj{jwt::params::algorithm(jwt::string_view(alg.data(), alg.size())),
                      jwt::params::secret(key_or_secret)};
  if (kid)
    obj.header().add_header("kid", *kid);
  for (const auto& [name, value] : claims.items())
    obj.add_claim(name, value);
  return obj.signature();
}

std::string rs256_signature(const key_pair& key, std::string_view signing_input) {
  return digest_sign(key, signing_input);
}

std::string es256_signature(const key_pair& key, std::string_view signing_input) {
  const std::string der = digest_sign(key, signing_input);
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  std::unique_ptr<ECDSA_SIG, decltype(&ECDSA_SIG_free)> sig{
      d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())), ECDSA_SIG_free};
  if (!sig)
    throw std::runtime_error("bad DER signature");
  std::string raw(64, '\0');
  BN_bn2binpad(ECDSA_SIG_get0_r(sig.get()), reinterpret_cast<unsigned char*>(raw.data()), 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(sig.get()), reinterpret_cast<unsigned char*>(raw.data()) + 32, 32);
  return raw;
}

std::string hs256_signature(std::string_view secret, std::string_view signing_input) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(signing_input.data()), signing_input.size(), mac, &len);
  return std::string(reinterpret_cast<const char*>(mac), len);
}

std::string part(const nlohmann::json& j) {
  return base64url_encode(j.dump());
}

std::string raw_token(const nlohmann::json& header, const nlohmann::json& claims,
                      const std::function<std::string(std::string_view)>& sign) {
  const std::string input = part(header) + "." + part(claims);
  return input + "." + base64url_encode(sign(input));
}

}  // namespace bkr::auth::test
