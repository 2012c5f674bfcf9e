// JWT bearer verification: compact JWS parsing, algorithm pinning, key selection, claims, verified-token
// cache.
#include "bkr/auth/jwt_verifier.hpp"

#include "bkr/auth/base64url.hpp"
#include "bkr/auth/errors.hpp"

#include <openssl/evp.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <new>

namespace bkr::auth {
namespace {

bkr::error fail(errc code, std::string message) {
  return {make_error_code(code), std::move(message)};
}

bkr::error config_error(std::string message) {
  return fail(errc::invalid_configuration, std::move(message));
}

constexpr std::size_t subject_max = 256;
// NumericDate beyond year 5000 is a mistake or an attack on the arithmetic, not a real expiry.
constexpr double numeric_date_max_s = 95'617'584'000.0;

bool is_token68(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~' || c == '+' || c == '/' || c == '=';
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           auto lower = [](char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; };
           return lower(x) == lower(y);
         });
}

long long ms(timestamp t) {
  return t.time_since_epoch().count();
}

// A NumericDate claim (seconds, possibly fractional) in milliseconds; nullopt when absent.
result<std::optional<long long>> numeric_date(const nlohmann::json& claims, const char* name) {
  const auto it = claims.find(name);
  if (it == claims.end())
    return std::optional<long long>{};
  if (!it->is_number())
    return fail(errc::malformed, std::string("token claim `") + name + "` is not a number");
  const double seconds = it->get<double>();
  if (!std::isfinite(seconds) || seconds < 0 || seconds > numeric_date_max_s)
    return fail(errc::malformed, std::string("token claim `") + name + "` is out of range");
  if (it->is_number_integer())
    return std::optional<long long>{it->get<long long>() * 1000};
  return std::optional<long long>{static_cast<long long>(std::floor(seconds * 1000.0))};
}

bool valid_subject(const std::string& sub) noexcept {
  if (sub.empty() || sub.size() > subject_max)
    return false;
  // The subject reaches logs and SQL parameters and becomes the requesterId of the caller's requests, where
  // the domain refuses control characters: C0, DEL, and C1 (U+0080..U+009F, in UTF-8 C2 80..C2 9F; the
  // claim is well-formed UTF-8, the JSON parser saw to that).
  for (std::size_t i = 0; i < sub.size(); ++i) {
    const auto u = static_cast<unsigned char>(sub[i]);
    if (u < 0x20 || u == 0x7F)
      return false;
    if (u == 0xC2 && i + 1 < sub.size() && static_cast<unsigned char>(sub[i + 1]) <= 0x9F)
      return false;
  }
  return true;
}

bool acceptable_typ(const std::string& typ) noexcept {
  return iequals(typ, "JWT") || iequals(typ, "at+jwt") || iequals(typ, "application/jwt") ||
         iequals(typ, "application/at+jwt");
}

const EVP_MD* sha256() {
  static const std::unique_ptr<EVP_MD, void (*)(EVP_MD*)> md{EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                             EVP_MD_free};
  if (!md)
    throw std::bad_alloc();
  return md.get();
}

}  // namespace

result<void> validate(const verifier_options& o) {
  if (o.issuers.empty())
    return config_error("auth: at least one accepted issuer is required");
  for (const auto& iss : o.issuers)
    if (iss.empty())
      return config_error("auth: an accepted issuer is empty");
  if (o.audience.empty())
    return config_error("auth: the audience is required");
  if (o.leeway < std::chrono::milliseconds{0} || o.leeway > std::chrono::minutes{5})
    return config_error("auth: leeway must be between 0 and 5 minutes");
  if (o.allowed_algorithms.empty())
    return config_error("auth: no token algorithm is allowed");
  const bool hs256 = std::find(o.allowed_algorithms.begin(), o.allowed_algorithms.end(), algorithm::hs256) !=
                     o.allowed_algorithms.end();
  if (hs256 && !o.hs256_secret)
    return config_error("auth: HS256 is allowed but no HS256 secret is configured");
  if (hs256 && o.hs256_secret->size() < 32)
    return config_error("auth: the HS256 secret must be at least 32 bytes");
  if (o.max_token_bytes < 64)
    return config_error("auth: max_token_bytes is too small");
  if (o.cache_ttl < std::chrono::milliseconds{0})
    return config_error("auth: cache_ttl must not be negative");
  if (o.cache_ttl > std::chrono::milliseconds{0} && o.cache_capacity == 0)
    return config_error("auth: cache_capacity must be positive when the cache is on");
  return {};
}

result<std::string_view> parse_bearer(std::optional<std::string_view> header_value,
                                      std::size_t max_token_bytes) {
  if (!header_value || header_value->empty())
    return fail(errc::missing_token, "no bearer token (Authorization header missing)");
  const std::string_view v = *header_value;
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() + 1 || !iequals(v.substr(0, scheme.size()), scheme) ||
      v[scheme.size()] != ' ')
    return fail(errc::malformed, "Authorization header is not `Bearer <token>`");
  const std::string_view token = v.substr(scheme.size() + 1);
  if (token.size() > max_token_bytes)
    return fail(errc::malformed, "bearer token exceeds " + std::to_string(max_token_bytes) + " bytes");
  // token68: one token, no inner spaces; '=' only as trailing padding.
  const auto last_non_pad = token.find_last_not_of('=');
  if (last_non_pad == std::string_view::npos ||
      !std::all_of(token.begin(), token.begin() + static_cast<std::ptrdiff_t>(last_non_pad) + 1,
                   [](char c) { return is_token68(c) && c != '='; }))
    return fail(errc::malformed, "Authorization header is not `Bearer <token>` with a single token");
  return token;
}

std::size_t jwt_verifier::digest_hash::operator()(const token_digest& d) const noexcept {
  std::size_t h = 0;
  std::memcpy(&h, d.data(), sizeof h);
  return h;
}

jwt_verifier::jwt_verifier(verifier_options options, std::optional<verification_key> hs256_key,
                           key_source& keys, const bkr::clock& clock)
    : options_(std::move(options)), hs256_key_(std::move(hs256_key)), keys_(&keys), clock_(clock) {}

jwt_verifier::~jwt_verifier() = default;

result<std::unique_ptr<jwt_verifier>> jwt_verifier::create(verifier_options options, key_source& keys,
                                                           const bkr::clock& clock) {
  if (auto ok = validate(options); !ok)
    return ok.error();
  std::optional<verification_key> hs256_key;
  const auto& algs = options.allowed_algorithms;
  if (std::find(algs.begin(), algs.end(), algorithm::hs256) != algs.end()) {
    auto key = verification_key::from_hs256_secret(*options.hs256_secret);
    if (!key)
      return config_error("auth: " + key.error().message);
    hs256_key = std::move(*key);
  }
  // The secret is not kept when HS256 is not allowed: nothing can verify with it by mistake.
  if (!hs256_key)
    options.hs256_secret.reset();
  return std::unique_ptr<jwt_verifier>(
      new jwt_verifier(std::move(options), std::move(hs256_key), keys, clock));
}

result<principal> jwt_verifier::verify_authorization(std::optional<std::string_view> header_value) const {
  auto token = parse_bearer(header_value, options_.max_token_bytes);
  if (!token)
    return token.error();
  return verify(*token);
}

result<principal> jwt_verifier::verify(std::string_view token) const {
  if (token.empty())
    return fail(errc::missing_token, "no bearer token");
  if (token.size() > options_.max_token_bytes)
    return fail(errc::malformed,
                "bearer token exceeds " + std::to_string(options_.max_token_bytes) + " bytes");
  if (options_.cache_ttl.count() == 0)
    return verify_uncached(token);

  token_digest digest{};
  unsigned int digest_len = 0;
  if (EVP_Digest(token.data(), token.size(), digest.data(), &digest_len, sha256(), nullptr) != 1 ||
      digest_len != digest.size())
    throw std::bad_alloc();
  auto& shard = cache_[digest[0] % shard_count];
  {
    std::lock_guard lock(shard.mutex);
    if (auto it = shard.entries.find(digest); it != shard.entries.end()) {
      if (clock_.now() < it->second.valid_until) {
        hits_.fetch_add(1, std::memory_order_relaxed);
        return it->second.who;
      }
      shard.entries.erase(it);
    }
  }
  misses_.fetch_add(1, std::memory_order_relaxed);
  auto verified = verify_uncached(token);
  if (!verified)
    return verified;

  const timestamp now = clock_.now();
  const timestamp until = std::min(verified.value().expires_at, now + options_.cache_ttl);
  const std::size_t shard_capacity = std::max<std::size_t>(1, options_.cache_capacity / shard_count);
  std::lock_guard lock(shard.mutex);
  if (shard.entries.size() >= shard_capacity) {
    std::erase_if(shard.entries, [now](const auto& e) { return e.second.valid_until <= now; });
    // Still full of live entries: dropping one costs a re-verification, nothing more.
    if (shard.entries.size() >= shard_capacity)
      shard.entries.erase(shard.entries.begin());
  }
  shard.entries.insert_or_assign(digest, cache_entry{*verified, until});
  return verified;
}

result<principal> jwt_verifier::verify_uncached(std::string_view token) const {
  const auto dot1 = token.find('.');
  const auto dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos || token.find('.', dot2 + 1) != std::string_view::npos)
    return fail(errc::malformed, "token is not three dot-separated parts");
  const std::string_view header_part = token.substr(0, dot1);
  const std::string_view payload_part = token.substr(dot1 + 1, dot2 - dot1 - 1);
  const std::string_view signature_part = token.substr(dot2 + 1);
  if (header_part.empty() || payload_part.empty())
    return fail(errc::malformed, "token has an empty header or payload");

  // Header: the algorithm is checked before anything is verified with it.
  const auto header_text = base64url_decode(header_part);
  if (!header_text)
    return fail(errc::malformed, "token header is not base64url");
  const auto header = nlohmann::json::parse(*header_text, nullptr, /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object())
    return fail(errc::malformed, "token header is not a JSON object");
  const auto alg_it = header.find("alg");
  if (alg_it == header.end() || !alg_it->is_string())
    return fail(errc::malformed, "token header has no `alg`");
  const auto alg = algorithm_from_string(alg_it->get_ref<const std::string&>());
  const auto& allowed = options_.allowed_algorithms;
  if (!alg || std::find(allowed.begin(), allowed.end(), *alg) == allowed.end())
    return fail(errc::algorithm_not_allowed, "token algorithm is not allowed");
  if (header.contains("crit"))
    return fail(errc::malformed, "token header has critical extensions this service does not understand");
  if (const auto typ = header.find("typ");
      typ != header.end() && (!typ->is_string() || !acceptable_typ(typ->get_ref<const std::string&>())))
    return fail(errc::malformed, "token header `typ` is not JWT");
  std::optional<std::string> kid;
  if (const auto kid_it = header.find("kid"); kid_it != header.end()) {
    if (!kid_it->is_string())
      return fail(errc::malformed, "token header `kid` is not a string");
    kid = kid_it->get<std::string>();
  }

  if (signature_part.empty())
    return fail(errc::malformed, "token has no signature");
  const auto signature = base64url_decode(signature_part);
  if (!signature)
    return fail(errc::malformed, "token signature is not base64url");

  // Key selection, pinned: the key decides the algorithm, and the token must name the same one.
  const verification_key* key = nullptr;
  std::shared_ptr<const key_set> keys;  // keeps `key` alive
  if (*alg == algorithm::hs256) {
    key = &*hs256_key_;
  } else {
    keys = keys_->current();
    auto select = [&](const key_set& set) { return kid ? set.find(*kid) : set.only_key_for(*alg); };
    key = select(*keys);
    if (!key) {
      keys = keys_->refresh_for_missing_key();
      key = select(*keys);
    }
    if (!key)
      return fail(errc::unknown_key,
                  kid ? "no verification key has the token's `kid`"
                      : "token has no `kid` and there is not exactly one key for its algorithm");
    if (key->alg() != *alg)
      return fail(errc::algorithm_not_allowed, "token algorithm differs from its key's algorithm");
  }
  if (!key->verify(token.substr(0, dot2), *signature))
    return fail(errc::bad_signature, "token signature does not verify");

  // Claims, only once the payload is known to be authentic.
  const auto payload_text = base64url_decode(payload_part);
  if (!payload_text)
    return fail(errc::malformed, "token payload is not base64url");
  const auto claims = nlohmann::json::parse(*payload_text, nullptr, /*allow_exceptions=*/false);
  if (claims.is_discarded() || !claims.is_object())
    return fail(errc::malformed, "token payload is not a JSON object");

  const long long now = ms(clock_.now());
  const long long leeway = options_.leeway.count();
  auto exp = numeric_date(claims, "exp");
  if (!exp)
    return exp.error();
  if (!*exp)
    return fail(errc::missing_expiry, "token has no `exp`");
  if (now >= **exp + leeway)
    return fail(errc::expired, "token has expired");
  auto nbf = numeric_date(claims, "nbf");
  if (!nbf)
    return nbf.error();
  if (*nbf && now + leeway < **nbf)
    return fail(errc::not_yet_valid, "token is not valid yet (`nbf`)");
  auto iat = numeric_date(claims, "iat");
  if (!iat)
    return iat.error();
  if (*iat && **iat > now + leeway)
    return fail(errc::issued_in_future, "token is issued in the future (`iat`)");

  const auto iss = claims.find("iss");
  if (iss == claims.end() || !iss->is_string() ||
      std::find(options_.issuers.begin(), options_.issuers.end(), iss->get_ref<const std::string&>()) ==
          options_.issuers.end())
    return fail(errc::wrong_issuer, "token issuer is not accepted");

  const auto aud = claims.find("aud");
  bool audience_ok = false;
  if (aud != claims.end()) {
    if (aud->is_string())
      audience_ok = aud->get_ref<const std::string&>() == options_.audience;
    else if (aud->is_array())
      audience_ok = std::any_of(aud->begin(), aud->end(), [&](const nlohmann::json& a) {
        return a.is_string() && a.get_ref<const std::string&>() == options_.audience;
      });
  }
  if (!audience_ok)
    return fail(errc::wrong_audience, "token audience does not include this service");

  const auto sub = claims.find("sub");
  if (sub == claims.end() || !sub->is_string() || !valid_subject(sub->get_ref<const std::string&>()))
    return fail(errc::missing_subject, "token `sub` is missing or not 1..256 printable characters");

  principal who;
  who.subject = sub->get<std::string>();
  who.issuer = iss->get<std::string>();
  who.alg = *alg;
  who.key_id = std::move(kid);
  if (const auto scope = claims.find("scope"); scope != claims.end() && scope->is_string())
    who.scope_claim = scope->get<std::string>();
  who.expires_at = timestamp{std::chrono::milliseconds{**exp}};
  return who;
}

jwt_verifier::cache_stats jwt_verifier::stats() const {
  cache_stats s;
  s.hits = hits_.load(std::memory_order_relaxed);
  s.misses = misses_.load(std::memory_order_relaxed);
  for (const auto& shard : cache_) {
    std::lock_guard lock(shard.mutex);
    s.size += shard.entries.size();
  }
  return s;
}

}  // namespace bkr::auth
