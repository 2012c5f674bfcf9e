// Authorization: does the authenticated client hold the scope a route requires (client_authorization)?
#pragma once

#include "bkr/auth/jwt_verifier.hpp"
#include "bkr/common/clock.hpp"

#include <chrono>
#include <cstddef>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace bkr::auth {

/// The scope that lets a client read every backup request (DOMAIN.md); otherwise a scope like the others.
inline constexpr std::string_view scope_admin = "admin";

/// The client's scopes, or nullopt for an unknown client. Throws when the answer cannot be had (database
/// down); that becomes decision::unavailable, never forbidden. May block: call authorize() off I/O threads.
using scope_lookup = std::function<std::optional<std::set<std::string>>(std::string_view client_id)>;

/// allowed -> go on; forbidden -> 403 Forbidden (unknown client or scope missing); unavailable -> 503.
enum class decision { allowed, forbidden, unavailable };
std::string_view to_string(decision d) noexcept;

struct scope_authorizer_options {
  std::chrono::milliseconds ttl{std::chrono::seconds{30}};          ///< known clients
  std::chrono::milliseconds negative_ttl{std::chrono::seconds{5}};  ///< unknown clients
  std::size_t capacity = 10000;                                     ///< cached clients at most
};

/// Answers authorization questions from a cache of the client_authorization table. Failed lookups are not
/// cached. Thread-safe; the lock is never held during a lookup. Owns the lookup function; the clock is
/// borrowed and must outlive the authorizer.
class scope_authorizer {
 public:
  scope_authorizer(scope_lookup lookup, const bkr::clock& clock, scope_authorizer_options options = {});

  decision authorize(std::string_view subject, std::string_view required_scope) const;
  decision authorize(const principal& who, std::string_view required_scope) const {
    return authorize(who.subject, required_scope);
  }
  /// Whether the principal holds `admin` (unavailable when that cannot be known).
  decision check_admin(const principal& who) const { return authorize(who.subject, scope_admin); }

  /// Drops the cached answer for one client (e.g. after its scopes were changed here).
  void forget(std::string_view subject);
  std::size_t cached_clients() const;

 private:
  struct entry {
    std::optional<std::set<std::string>> scopes;
    timestamp valid_until;
  };

  scope_lookup lookup_;
  const bkr::clock& clock_;
  const scope_authorizer_options options_;
  mutable std::mutex mutex_;
  mutable std::map<std::string, entry, std::less<>> cache_;
};

}  // namespace bkr::auth
