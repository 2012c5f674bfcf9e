// JWKS documents: parsing into key sets, and a cache that refreshes them from a file or a URL.
#pragma once

#include "bkr/auth/keys.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::auth {

/// Parses a JWKS (`{"keys": [...]}`). Keys this library does not verify with (other `kty`, curves or `alg`,
/// `use` other than `sig`) are skipped; a key of a supported type that is malformed refuses the whole
/// document (errc::invalid_key_set, naming the key by index and kid), as do duplicate kids and a document
/// left with no usable key.
result<key_set> parse_jwks(std::string_view document);

/// Returns the JWKS body. Throws on failure (bkr::infrastructure_error or any std::exception); the cache
/// then keeps its last good key set.
using jwks_fetcher = std::function<std::string()>;

/// Reads the JWKS from a file on every call.
jwks_fetcher jwks_file_fetcher(std::string path);

struct jwks_cache_options {
  std::chrono::milliseconds refresh_period{std::chrono::minutes{10}};
  /// After a failed fetch or parse, the next periodic attempt comes this soon (capped by refresh_period).
  std::chrono::milliseconds retry_after_failure{std::chrono::seconds{30}};
  /// A token naming an unknown kid triggers a refresh at most this often.
  std::chrono::milliseconds missing_key_min_interval{std::chrono::seconds{30}};
  /// Runs a refresh job. Empty: inline on the calling thread (tests, tools). Services pass a function that
  /// posts the job to a thread allowed to block, so no I/O thread waits on the fetch.
  std::function<void(std::function<void()>)> run_refresh;
};

/// A key_source backed by a JWKS: serves the last good key set, refreshes it every refresh_period and
/// (rate-limited) when a token names an unknown kid, and keeps serving the last good set when a refresh
/// fails. Before the first successful load the set is empty (every RS256/ES256 token is unknown_key).
/// Thread-safe; at most one refresh runs at a time and readers never wait for it. Owns the fetcher; the
/// clock must outlive the cache. Refresh jobs handed to run_refresh keep the shared state alive, so the
/// cache may be destroyed while one is queued.
class jwks_cache final : public key_source {
 public:
  jwks_cache(jwks_fetcher fetch, const bkr::clock& clock, jwks_cache_options options = {});
  ~jwks_cache() override;
  jwks_cache(const jwks_cache&) = delete;
  jwks_cache& operator=(const jwks_cache&) = delete;

  /// Fetches and parses now, on the calling thread, whatever the schedule. On success replaces the set and
  /// returns its size; on failure keeps the last good set and returns the reason (errc::invalid_key_set or
  /// errc::key_set_unavailable). Used at startup.
  result<std::size_t> refresh();

  std::shared_ptr<const key_set> current() override;
  std::shared_ptr<const key_set> refresh_for_missing_key() override;

  /// For /healthz and logs.
  struct status {
    std::size_t key_count = 0;
    std::optional<timestamp> last_success;
    std::optional<timestamp> last_failure;
    std::string last_error;  ///< why the last attempt failed; empty after a success
  };
  status state() const;

 private:
  struct shared_state;  // refresh jobs hold it too
  std::shared_ptr<shared_state> state_;
};

}  // namespace bkr::auth
