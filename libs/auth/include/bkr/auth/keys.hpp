// Verification keys (parsed once, shared), immutable key sets, and the source the verifier asks for them.
#pragma once

#include "bkr/common/error.hpp"

#include <nlohmann/json_fwd.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::auth {

/// The JWS algorithms this library verifies. Names on the wire are case-sensitive (RFC 7515).
enum class algorithm { hs256, rs256, es256 };
std::string_view to_string(algorithm a) noexcept;
std::optional<algorithm> algorithm_from_string(std::string_view name) noexcept;

struct key_material;  // the parsed OpenSSL key or HMAC secret; defined in the implementation

/// A public key (RS256: RSA >= 2048 bits; ES256: P-256) or an HS256 secret, parsed once and pinned to one
/// algorithm. Immutable value type; copies share the parsed key, and verify() may run on many threads at
/// once.
class verification_key {
 public:
  /// A PEM `PUBLIC KEY` (SubjectPublicKeyInfo); the algorithm follows from the key type.
  static result<verification_key> from_public_pem(std::string_view pem, std::optional<std::string> kid = {});
  /// One JWK (RFC 7517/7518): `kty` RSA (`n`, `e`) or EC (`crv` P-256, `x`, `y`); `alg` optional but must fit
  /// the key; `use`, when present, must be `sig`.
  static result<verification_key> from_jwk(const nlohmann::json& jwk);
  /// A shared secret of at least 32 bytes.
  static result<verification_key> from_hs256_secret(std::string_view secret,
                                                    std::optional<std::string> kid = {});

  algorithm alg() const noexcept { return alg_; }
  const std::optional<std::string>& kid() const noexcept { return kid_; }

  /// True when `signature` (the decoded third JWS part) is valid for `signing_input` under this key and
  /// its one algorithm. Throws std::bad_alloc when OpenSSL cannot allocate.
  bool verify(std::string_view signing_input, std::string_view signature) const;

 private:
  friend struct key_factory;  // the implementation's parsers build keys
  verification_key(std::shared_ptr<const key_material> material, algorithm alg,
                   std::optional<std::string> kid);

  std::shared_ptr<const key_material> material_;
  algorithm alg_;
  std::optional<std::string> kid_;
};

/// An immutable set of keys, looked up by `kid`. Value type; shared between threads as
/// shared_ptr<const key_set>.
class key_set {
 public:
  key_set() = default;
  /// Refuses two keys with the same kid.
  static result<key_set> make(std::vector<verification_key> keys);

  /// The key with this kid, or nullptr.
  const verification_key* find(std::string_view kid) const noexcept;
  /// For tokens without `kid`: the one key of `alg`, or nullptr when there is none or more than one.
  const verification_key* only_key_for(algorithm alg) const noexcept;

  const std::vector<verification_key>& keys() const noexcept { return keys_; }
  std::size_t size() const noexcept { return keys_.size(); }
  bool empty() const noexcept { return keys_.empty(); }

 private:
  explicit key_set(std::vector<verification_key> keys) : keys_(std::move(keys)) {}
  std::vector<verification_key> keys_;
};

/// Where the verifier gets RS256/ES256 keys. Implementations are thread-safe; current() is called on every
/// verification that misses the token cache, so it must be cheap.
class key_source {
 public:
  virtual ~key_source() = default;
  /// The keys to verify with now; never null.
  virtual std::shared_ptr<const key_set> current() = 0;
  /// Called when current() holds no key for a token. May refresh (rate-limited) and return a newer set.
  virtual std::shared_ptr<const key_set> refresh_for_missing_key() { return current(); }
};

/// A fixed key set (keys from configuration, tests, or none at all for an HS256-only development setup).
/// Thread-safe; immutable after construction.
class static_key_source final : public key_source {
 public:
  static_key_source() : keys_(std::make_shared<const key_set>()) {}
  explicit static_key_source(key_set keys) : keys_(std::make_shared<const key_set>(std::move(keys))) {}
  std::shared_ptr<const key_set> current() override { return keys_; }

 private:
  std::shared_ptr<const key_set> keys_;
};

}  // namespace bkr::auth
