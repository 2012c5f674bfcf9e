// Bearer-token authentication: the Authorization header, JWS signature, and the registered claims.
#pragma once

#include "bkr/auth/keys.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace bkr::auth {

/// Who presented a valid token. The subject is the client id of the client_authorization table.
struct principal {
  std::string subject;
  std::string issuer;
  algorithm alg = algorithm::rs256;
  std::optional<std::string> key_id;
  /// The raw `scope` claim, for logs only: authorization uses client_authorization, not this claim.
  std::optional<std::string> scope_claim;
  timestamp expires_at{};

  friend bool operator==(const principal&, const principal&) = default;
};

struct verifier_options {
  std::vector<std::string> issuers;  ///< accepted `iss` values; must not be empty
  std::string audience;              ///< required in `aud` (a string or an array of strings)
  std::chrono::milliseconds leeway{std::chrono::seconds{30}};  ///< for exp, nbf and iat
  /// RS256 and ES256 use keys from the key_source. HS256 is honoured only when listed here AND
  /// hs256_secret is set (development only).
  std::vector<algorithm> allowed_algorithms{algorithm::rs256, algorithm::es256};
  std::optional<std::string> hs256_secret;
  std::size_t max_token_bytes = 8192;
  /// Verified tokens are remembered (by SHA-256 of the token) until min(exp, verification + cache_ttl);
  /// zero disables the cache. A key removed from the JWKS stops working within this time.
  std::chrono::milliseconds cache_ttl{std::chrono::seconds{60}};
  std::size_t cache_capacity = 16384;
};

/// Checks options for consistency; errc::invalid_configuration names the problem.
result<void> validate(const verifier_options& options);

/// Extracts the token from an `Authorization` header value: `Bearer <token>`, scheme case-insensitive,
/// exactly one space, one token of token68 characters, at most `max_token_bytes`. Missing header ->
/// errc::missing_token; anything else wrong -> errc::malformed. The view points into `header_value`.
result<std::string_view> parse_bearer(std::optional<std::string_view> header_value,
                                      std::size_t max_token_bytes = 8192);

/// Verifies compact-JWS bearer tokens: algorithm allowed and equal to the selected key's, key by `kid`
/// (or the only key of the algorithm), signature, then iss, aud, sub, exp, nbf and iat against the clock.
/// Error messages name the failed check and never contain the token or values taken from it.
/// Thread-safe (verify() may run on any number of threads); the key_source and clock are borrowed and
/// must outlive the verifier; the verified-token cache is owned and bounded by cache_capacity.
class jwt_verifier {
 public:
  static result<std::unique_ptr<jwt_verifier>> create(verifier_options options, key_source& keys,
                                                      const bkr::clock& clock);
  ~jwt_verifier();
  jwt_verifier(const jwt_verifier&) = delete;
  jwt_verifier& operator=(const jwt_verifier&) = delete;

  result<principal> verify(std::string_view token) const;
  /// parse_bearer() then verify().
  result<principal> verify_authorization(std::optional<std::string_view> header_value) const;

  struct cache_stats {
    std::uint64_t hits = 0;
    std::uint64_t misses = 0;
    std::size_t size = 0;
  };
  cache_stats stats() const;

  const verifier_options& options() const noexcept { return options_; }

 private:
  jwt_verifier(verifier_options options, std::optional<verification_key> hs256_key, key_source& keys,
               const bkr::clock& clock);
  result<principal> verify_uncached(std::string_view token) const;

  using token_digest = std::array<unsigned char, 32>;
  struct digest_hash {
    std::size_t operator()(const token_digest& d) const noexcept;
  };
  struct cache_entry {
    principal who;
    timestamp valid_until;
  };
  struct cache_shard {
    mutable std::mutex mutex;
    std::unordered_map<token_digest, cache_entry, digest_hash> entries;
  };
  static constexpr std::size_t shard_count = 8;

  const verifier_options options_;
  const std::optional<verification_key> hs256_key_;
  key_source* keys_;
  const bkr::clock& clock_;
  mutable std::array<cache_shard, shard_count> cache_;
  mutable std::atomic<std::uint64_t> hits_{0};
  mutable std::atomic<std::uint64_t> misses_{0};
};

}  // namespace bkr::auth
