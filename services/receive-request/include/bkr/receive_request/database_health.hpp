// Whether Postgres is reachable: a periodic ping on a connection of its own, plus what the writers observe.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace bkr::receive_request {

/// Pings Postgres every `interval` (every quarter interval while it is down, so that recovery is noticed
/// quickly) on a dedicated connection, reconnecting as needed. reachable() is what /readyz reports and
/// what makes the accept path answer 503 at once instead of queueing; writers call report() so that a
/// failure is acted on before the next ping. Lifetime: start() before use, stop() (or the destructor)
/// joins the thread. reachable(), report() and to_json() are thread-safe and never block on the database.
class database_health {
 public:
  database_health(std::string conninfo, std::chrono::milliseconds interval, const bkr::clock& clock,
                  metrics::registry& registry, bkr::logger log);
  ~database_health();
  database_health(const database_health&) = delete;
  database_health& operator=(const database_health&) = delete;

  /// Pings once on the calling thread (so readiness is known before serving), then starts the thread.
  void start();
  void stop();

  bool reachable() const noexcept { return reachable_.load(std::memory_order_relaxed); }
  /// A writer's observation: true after a commit, false after a connection failure.
  void report(bool ok, std::string_view error = {});
  /// For /healthz: {reachable, lastOkAt, lastFailureAt, lastError}.
  nlohmann::json to_json() const;

 private:
  void run();
  void ping();
  void set(bool ok, std::string_view error);

  const std::string conninfo_;
  const std::chrono::milliseconds interval_;
  const bkr::clock& clock_;
  bkr::logger log_;
  metrics::gauge& up_gauge_;

  std::atomic<bool> reachable_{false};
  mutable std::mutex mutex_;  // guards the fields below
  std::condition_variable wake_;
  bool stopping_ = false;
  std::optional<timestamp> last_ok_;
  std::optional<timestamp> last_failure_;
  std::string last_error_;
  std::thread thread_;
  struct connection_holder;
  std::unique_ptr<connection_holder> connection_;  // used by the ping thread only
};

}  // namespace bkr::receive_request
