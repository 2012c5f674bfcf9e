// Verification keys on OpenSSL 3: parsed once into EVP_PKEY (or an HMAC secret), verified many times.
#include "bkr/auth/keys.hpp"
#include "bkr/auth/errors.hpp"
#include "key_factory.hpp"

#include "bkr/auth/base64url.hpp"

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <algorithm>
#include <array>
#include <memory>
#include <mutex>
#include <new>
#include <set>
#include <vector>

namespace bkr::auth {

struct key_material {
  EVP_PKEY* pkey = nullptr;  // RS256 / ES256
  std::string secret;        // HS256

  key_material() = default;
  key_material(const key_material&) = delete;
  key_material& operator=(const key_material&) = delete;
  ~key_material() {
    for (EVP_PKEY_CTX* ctx : idle)
      EVP_PKEY_CTX_free(ctx);
    EVP_PKEY_free(pkey);
    if (!secret.empty())
      OPENSSL_cleanse(secret.data(), secret.size());
  }

  // Initialised verify contexts, reused: EVP_PKEY_verify may run many times on one context, and setting one
  // up (algorithm fetch, key binding) costs about as much as an RSA verification. One context serves one
  // thread at a time, so the pool grows to the number of threads verifying at once.
  mutable std::mutex pool_mutex;
  mutable std::vector<EVP_PKEY_CTX*> idle;
};

namespace {

constexpr std::size_t hs256_min_secret = 32;
constexpr int rsa_min_bits = 2048;
constexpr int rsa_max_bits = 8192;
constexpr std::size_t kid_max = 256;

struct pkey_free {
  void operator()(EVP_PKEY* p) const noexcept { EVP_PKEY_free(p); }
};
struct pkey_ctx_free {
  void operator()(EVP_PKEY_CTX* p) const noexcept { EVP_PKEY_CTX_free(p); }
};
struct bn_free {
  void operator()(BIGNUM* p) const noexcept { BN_free(p); }
};
struct bio_free {
  void operator()(BIO* p) const noexcept { BIO_free(p); }
};
struct ecdsa_sig_free {
  void operator()(ECDSA_SIG* p) const noexcept { ECDSA_SIG_free(p); }
};
struct param_bld_free {
  void operator()(OSSL_PARAM_BLD* p) const noexcept { OSSL_PARAM_BLD_free(p); }
};
struct params_free {
  void operator()(OSSL_PARAM* p) const noexcept { OSSL_PARAM_free(p); }
};
using pkey_ptr = std::unique_ptr<EVP_PKEY, pkey_free>;

bkr::error key_error(std::string message) {
  return {make_error_code(errc::invalid_key), std::move(message)};
}

const unsigned char* bytes(std::string_view s) noexcept {
  return reinterpret_cast<const unsigned char*>(s.data());
}

// Fetched once: an implicit fetch on every verification costs a provider lookup.
const EVP_MD* sha256() {
  static const std::unique_ptr<EVP_MD, void (*)(EVP_MD*)> md{EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                             EVP_MD_free};
  if (!md)
    throw std::bad_alloc();
  return md.get();
}

// A verify context of `material` for the duration of one verification.
class pooled_context {
 public:
  explicit pooled_context(const key_material& material) : material_(material) {
    {
      std::lock_guard lock(material_.pool_mutex);
      if (!material_.idle.empty()) {
        ctx_ = material_.idle.back();
        material_.idle.pop_back();
        return;
      }
    }
    ctx_ = EVP_PKEY_CTX_new_from_pkey(nullptr, material_.pkey, nullptr);
    if (!ctx_)
      throw std::bad_alloc();
    if (EVP_PKEY_verify_init(ctx_) != 1 || EVP_PKEY_CTX_set_signature_md(ctx_, sha256()) != 1 ||
        (EVP_PKEY_is_a(material_.pkey, "RSA") &&
         EVP_PKEY_CTX_set_rsa_padding(ctx_, RSA_PKCS1_PADDING) != 1)) {
      EVP_PKEY_CTX_free(ctx_);
      throw std::bad_alloc();
    }
  }
  ~pooled_context() {
    std::lock_guard lock(material_.pool_mutex);
    material_.idle.push_back(ctx_);
  }
  pooled_context(const pooled_context&) = delete;
  pooled_context& operator=(const pooled_context&) = delete;
  EVP_PKEY_CTX* get() const noexcept { return ctx_; }

 private:
  const key_material& material_;
  EVP_PKEY_CTX* ctx_ = nullptr;
};

bool digest_verify(const key_material& material, std::string_view input, const unsigned char* sig,
                   std::size_t sig_len) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(input.data(), input.size(), digest.data(), &digest_len, sha256(), nullptr) != 1)
    throw std::bad_alloc();
  pooled_context ctx(material);
  return EVP_PKEY_verify(ctx.get(), sig, sig_len, digest.data(), digest_len) == 1;
}

bool verify_hs256(const std::string& secret, std::string_view input, std::string_view signature) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> mac{};
  unsigned int mac_len = 0;
  if (signature.size() != 32)
    return false;
  if (!HMAC(sha256(), secret.data(), static_cast<int>(secret.size()), bytes(input), input.size(), mac.data(),
            &mac_len) ||
      mac_len != 32)
    return false;
  // Constant time: a timing difference would reveal how many leading bytes of a forged MAC are right.
  return CRYPTO_memcmp(mac.data(), signature.data(), 32) == 0;
}

bool verify_rs256(const key_material& material, std::string_view input, std::string_view signature) {
  if (signature.size() != static_cast<std::size_t>(EVP_PKEY_get_size(material.pkey)))
    return false;
  return digest_verify(material, input, bytes(signature), signature.size());
}

bool verify_es256(const key_material& material, std::string_view input, std::string_view signature) {
  // JWS carries r || s (32 bytes each, RFC 7518 3.4); OpenSSL wants DER.
  if (signature.size() != 64)
    return false;
  std::unique_ptr<ECDSA_SIG, ecdsa_sig_free> sig{ECDSA_SIG_new()};
  if (!sig)
    throw std::bad_alloc();
  BIGNUM* r = BN_bin2bn(bytes(signature), 32, nullptr);
  BIGNUM* s = BN_bin2bn(bytes(signature) + 32, 32, nullptr);
  if (!r || !s || ECDSA_SIG_set0(sig.get(), r, s) != 1) {
    BN_free(r);
    BN_free(s);
    throw std::bad_alloc();
  }
  std::array<unsigned char, 80> der{};  // 2 * (2 + 33) + 3 at most
  unsigned char* out = der.data();
  const int der_len = i2d_ECDSA_SIG(sig.get(), &out);
  if (der_len <= 0)
    return false;
  return digest_verify(material, input, der.data(), static_cast<std::size_t>(der_len));
}

result<algorithm> classify(EVP_PKEY* pkey) {
  if (EVP_PKEY_is_a(pkey, "RSA")) {
    const int bits = EVP_PKEY_get_bits(pkey);
    if (bits < rsa_min_bits || bits > rsa_max_bits)
      return key_error("RSA key of " + std::to_string(bits) + " bits; 2048..8192 are accepted");
    return algorithm::rs256;
  }
  if (EVP_PKEY_is_a(pkey, "EC")) {
    std::array<char, 64> group{};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) !=
        1)
      return key_error("EC key without a named curve");
    const std::string_view name(group.data(), len);
    if (name != "prime256v1" && name != "P-256")
      return key_error("EC key on curve " + std::string(name) + "; only P-256 (ES256) is accepted");
    return algorithm::es256;
  }
  return key_error("unsupported key type; RSA (RS256) and EC P-256 (ES256) are accepted");
}

result<std::optional<std::string>> check_kid(std::optional<std::string> kid) {
  if (kid && (kid->empty() || kid->size() > kid_max))
    return key_error("kid must be 1..256 characters");
  return kid;
}

// --- JWK ---

result<std::optional<std::string>> optional_string(const nlohmann::json& jwk, const char* member,
                                                   const std::string& where) {
  const auto it = jwk.find(member);
  if (it == jwk.end())
    return std::optional<std::string>{};
  if (!it->is_string())
    return key_error(where + ": `" + member + "` must be a string");
  return std::optional<std::string>{it->get<std::string>()};
}

result<std::string> required_bytes(const nlohmann::json& jwk, const char* member, const std::string& where) {
  const auto it = jwk.find(member);
  if (it == jwk.end() || !it->is_string())
    return key_error(where + ": `" + member + "` is missing or not a string");
  auto decoded = base64url_decode(it->get_ref<const std::string&>());
  if (!decoded || decoded->empty())
    return key_error(where + ": `" + member + "` is not base64url");
  return std::move(*decoded);
}

result<pkey_ptr> rsa_from_jwk(const nlohmann::json& jwk, const std::string& where) {
  auto n = required_bytes(jwk, "n", where);
  if (!n)
    return n.error();
  auto e = required_bytes(jwk, "e", where);
  if (!e)
    return e.error();
  // e = 1 would make every message its own signature; e must be odd and > 1.
  const std::string_view e_bytes = *e;
  const auto first_nonzero = e_bytes.find_first_not_of('\0');
  if (first_nonzero == std::string_view::npos || e_bytes.size() - first_nonzero > 8 ||
      (static_cast<unsigned char>(e_bytes.back()) & 1U) == 0 ||
      (e_bytes.size() - first_nonzero == 1 && static_cast<unsigned char>(e_bytes.back()) < 3))
    return key_error(where + ": RSA exponent `e` must be odd, at least 3 and at most 64 bits");

  std::unique_ptr<BIGNUM, bn_free> bn_n{BN_bin2bn(bytes(*n), static_cast<int>(n->size()), nullptr)};
  std::unique_ptr<BIGNUM, bn_free> bn_e{BN_bin2bn(bytes(*e), static_cast<int>(e->size()), nullptr)};
  std::unique_ptr<OSSL_PARAM_BLD, param_bld_free> bld{OSSL_PARAM_BLD_new()};
  if (!bn_n || !bn_e || !bld)
    throw std::bad_alloc();
  if (OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_N, bn_n.get()) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_RSA_E, bn_e.get()) != 1)
    throw std::bad_alloc();
  std::unique_ptr<OSSL_PARAM, params_free> params{OSSL_PARAM_BLD_to_param(bld.get())};
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx{EVP_PKEY_CTX_new_from_name(nullptr, "RSA", nullptr)};
  if (!params || !ctx)
    throw std::bad_alloc();
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get()) != 1)
    return key_error(where + ": `n`/`e` do not form an RSA public key");
  return pkey_ptr{raw};
}

result<pkey_ptr> ec_from_jwk(const nlohmann::json& jwk, const std::string& where) {
  auto x_bytes = required_bytes(jwk, "x", where);
  if (!x_bytes)
    return x_bytes.error();
  auto y_bytes = required_bytes(jwk, "y", where);
  if (!y_bytes)
    return y_bytes.error();
  const std::string x = std::move(x_bytes).value();
  const std::string y = std::move(y_bytes).value();
  if (x.size() != 32 || y.size() != 32)
    return key_error(where + ": P-256 coordinates `x` and `y` must be 32 bytes each");
  std::array<unsigned char, 65> point{};
  point[0] = 0x04;  // uncompressed point
  std::copy(x.begin(), x.end(), point.begin() + 1);
  std::copy(y.begin(), y.end(), point.begin() + 33);
  std::array<char, 6> group{'P', '-', '2', '5', '6', '\0'};
  const std::array<OSSL_PARAM, 3> params{
      OSSL_PARAM_construct_utf8_string(OSSL_PKEY_PARAM_GROUP_NAME, group.data(), 0),
      OSSL_PARAM_construct_octet_string(OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()),
      OSSL_PARAM_construct_end()};
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> ctx{EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr)};
  if (!ctx)
    throw std::bad_alloc();
  EVP_PKEY* raw = nullptr;
  if (EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, const_cast<OSSL_PARAM*>(params.data())) != 1)
    return key_error(where + ": `x`/`y` are not a point on P-256");
  pkey_ptr key{raw};
  // fromdata decodes the point; the explicit check also refuses the point at infinity and small subgroups.
  std::unique_ptr<EVP_PKEY_CTX, pkey_ctx_free> check{EVP_PKEY_CTX_new_from_pkey(nullptr, key.get(), nullptr)};
  if (!check)
    throw std::bad_alloc();
  if (EVP_PKEY_public_check(check.get()) != 1)
    return key_error(where + ": `x`/`y` are not a valid P-256 public key");
  return key;
}

}  // namespace

std::string_view to_string(algorithm a) noexcept {
  switch (a) {
    case algorithm::hs256:
      return "HS256";
    case algorithm::rs256:
      return "RS256";
    case algorithm::es256:
      return "ES256";
  }
  return "?";
}

std::optional<algorithm> algorithm_from_string(std::string_view name) noexcept {
  if (name == "HS256")
    return algorithm::hs256;
  if (name == "RS256")
    return algorithm::rs256;
  if (name == "ES256")
    return algorithm::es256;
  return std::nullopt;
}

verification_key::verification_key(std::shared_ptr<const key_material> material, algorithm alg,
                                   std::optional<std::string> kid)
    : material_(std::move(material)), alg_(alg), kid_(std::move(kid)) {}

result<verification_key> verification_key::from_public_pem(std::string_view pem,
                                                           std::optional<std::string> kid) {
  auto checked_kid = check_kid(std::move(kid));
  if (!checked_kid)
    return checked_kid.error();
  std::unique_ptr<BIO, bio_free> bio{BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()))};
  if (!bio)
    throw std::bad_alloc();
  pkey_ptr pkey{PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr)};
  if (!pkey)
    return key_error("not a PEM public key (-----BEGIN PUBLIC KEY-----)");
  auto alg = classify(pkey.get());
  if (!alg)
    return alg.error();
  auto material = std::make_shared<key_material>();
  material->pkey = pkey.release();
  return verification_key(std::move(material), *alg, std::move(*checked_kid));
}

result<verification_key> verification_key::from_hs256_secret(std::string_view secret,
                                                             std::optional<std::string> kid) {
  if (secret.size() < hs256_min_secret)
    return key_error("HS256 secret must be at least 32 bytes");
  auto checked_kid = check_kid(std::move(kid));
  if (!checked_kid)
    return checked_kid.error();
  auto material = std::make_shared<key_material>();
  material->secret.assign(secret);
  return verification_key(std::move(material), algorithm::hs256, std::move(*checked_kid));
}

result<verification_key> verification_key::from_jwk(const nlohmann::json& jwk) {
  auto key = key_factory::read_jwk(jwk);
  if (!key)
    return key.error();
  if (!*key)
    return key_error(
        "JWK of a type this service does not verify with (RSA/RS256 and EC P-256/ES256, use sig)");
  return std::move(**key);
}

bool verification_key::verify(std::string_view signing_input, std::string_view signature) const {
  switch (alg_) {
    case algorithm::hs256:
      return verify_hs256(material_->secret, signing_input, signature);
    case algorithm::rs256:
      return verify_rs256(*material_, signing_input, signature);
    case algorithm::es256:
      return verify_es256(*material_, signing_input, signature);
  }
  return false;
}

result<std::optional<verification_key>> key_factory::read_jwk(const nlohmann::json& jwk) {
  if (!jwk.is_object())
    return key_error("JWK must be a JSON object");
  auto kid = optional_string(jwk, "kid", "JWK");
  if (!kid)
    return kid.error();
  const std::string where = *kid ? "JWK `" + kid->value().substr(0, 64) + "`" : std::string("JWK");
  if (*kid && (kid->value().empty() || kid->value().size() > kid_max))
    return key_error(where + ": `kid` must be 1..256 characters");

  auto kty = optional_string(jwk, "kty", where);
  if (!kty)
    return kty.error();
  if (!*kty)
    return key_error(where + ": `kty` is missing");
  auto use = optional_string(jwk, "use", where);
  if (!use)
    return use.error();
  auto alg_name = optional_string(jwk, "alg", where);
  if (!alg_name)
    return alg_name.error();

  // Keys for other purposes or algorithms may share the document; they are not ours to judge.
  if (**kty != "RSA" && **kty != "EC")
    return std::optional<verification_key>{};
  if (*use && **use != "sig")
    return std::optional<verification_key>{};
  if (const auto ops = jwk.find("key_ops"); ops != jwk.end()) {
    if (!ops->is_array())
      return key_error(where + ": `key_ops` must be an array");
    if (std::find(ops->begin(), ops->end(), "verify") == ops->end())
      return std::optional<verification_key>{};
  }
  std::optional<algorithm> alg;
  if (*alg_name) {
    alg = algorithm_from_string(**alg_name);
    if (!alg || *alg == algorithm::hs256)
      return std::optional<verification_key>{};
  }
  // Private members in a published key set mean the signing key leaked; refuse rather than carry on.
  for (const char* priv : {"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
    if (jwk.contains(priv))
      return key_error(where + ": contains private key material (`" + priv + "`)");

  pkey_ptr pkey;
  algorithm key_alg = algorithm::rs256;
  if (**kty == "RSA") {
    if (alg && *alg != algorithm::rs256)
      return key_error(where + ": `alg` " + **alg_name + " does not fit an RSA key");
    auto made = rsa_from_jwk(jwk, where);
    if (!made)
      return made.error();
    pkey = std::move(*made);
    key_alg = algorithm::rs256;
  } else {
    auto crv = optional_string(jwk, "crv", where);
    if (!crv)
      return crv.error();
    if (!*crv)
      return key_error(where + ": `crv` is missing");
    if (alg && *alg != algorithm::es256)
      return key_error(where + ": `alg` " + **alg_name + " does not fit an EC key");
    if (**crv != "P-256") {
      if (alg)  // ES256 is defined on P-256 only
        return key_error(where + ": `alg` ES256 needs `crv` P-256");
      return std::optional<verification_key>{};
    }
    auto made = ec_from_jwk(jwk, where);
    if (!made)
      return made.error();
    pkey = std::move(*made);
    key_alg = algorithm::es256;
  }
  auto classified = classify(pkey.get());
  if (!classified)
    return key_error(where + ": " + classified.error().message);
  auto material = std::make_shared<key_material>();
  material->pkey = pkey.release();
  return std::optional<verification_key>{verification_key(std::move(material), key_alg, std::move(*kid))};
}

result<key_set> key_set::make(std::vector<verification_key> keys) {
  std::set<std::string_view> kids;
  for (const auto& k : keys)
    if (k.kid() && !kids.insert(*k.kid()).second)
      return bkr::error{make_error_code(errc::invalid_key_set), "two keys share the kid `" + *k.kid() + "`"};
  return key_set(std::move(keys));
}

const verification_key* key_set::find(std::string_view kid) const noexcept {
  for (const auto& k : keys_)
    if (k.kid() && *k.kid() == kid)
      return &k;
  return nullptr;
}

const verification_key* key_set::only_key_for(algorithm alg) const noexcept {
  const verification_key* found = nullptr;
  for (const auto& k : keys_) {
    if (k.alg() != alg)
      continue;
    if (found)
      return nullptr;
    found = &k;
  }
  return found;
}

}  // namespace bkr::auth
