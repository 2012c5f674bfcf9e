// The process around a pipeline stage: logging, metrics, database pool, migrations, the ops listener,
// consumers, the stalled-request sweep, and the graceful stop on SIGINT/SIGTERM.
#pragma once

#include "bkr/app/circuit_breaker.hpp"
#include "bkr/app/recover_stalled.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/app/worker_config.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/common/config.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <atomic>
#include <memory>
#include <string>
#include <vector>

namespace bkr::app {

/// Owns what every worker process needs, built in dependency order in the constructor: stop signals
/// blocked (so only run() receives them), logger, metrics registry, clock, connection pool, migrations
/// (when migrate.on_start), the LISTEN notifier and the ops listener (started at once: /livez answers
/// while the worker starts; /readyz fails until the consumers run). run() starts the consumers, the queue
/// statistics poller and the recovery sweep, waits for SIGINT/SIGTERM (or request_stop()), then stops:
/// /readyz false -> sweep stopped -> consumers stop claiming and finish in-flight work until
/// drain.deadline (unstarted claims are handed back without spending an attempt) -> notifier and poller
/// stopped. The ops listener and the pool go last, in the destructor.
///
/// Construct it first in main (before any other thread exists) and from the main thread. Methods other
/// than request_stop() are for that thread; request_stop() may be called from any thread.
class worker_runtime {
 public:
  worker_runtime(worker_settings settings, const config::values& values);
  ~worker_runtime();
  worker_runtime(const worker_runtime&) = delete;
  worker_runtime& operator=(const worker_runtime&) = delete;

  const bkr::logger& log() const;
  metrics::registry& registry();
  storage::connection_pool& pool();
  const bkr::clock& clock() const;
  /// `bkr-<stage>`: the producer of the messages the stage publishes.
  const std::string& producer() const;
  const worker_config& config() const;
  /// The ops listener's port (useful when ops.port is 0).
  std::uint16_t ops_port() const;

  /// Makes (and owns) the breaker of an outside dependency the stage cannot work without (for the HTTP
  /// adapters; on this runtime's clock): /readyz fails as `breaker:<name>` while it is open, /healthz shows
  /// it under `breakers` (which always holds `postgres` too, `{"state":"closed"|"open"}`), the gauge
  /// `bkr_breaker_state{breaker}` (0 closed, 1 half-open, 2 open) follows it, and the consumers stop claiming
  /// while it is open and resume by themselves when a probe may go. Call before run(). The breaker lives as
  /// long as the runtime: build the adapters that use it after the runtime, so they go first.
  circuit_breaker& add_breaker(std::string name, breaker_options options);

  /// Runs `s` (wrapped in a stage_handler with per-queue metrics) on consumer.threads consumers of the
  /// queue until a stop signal, then drains. Returns the process exit code (0 after a graceful stop).
  int run(stage& s);

  /// Same as receiving SIGTERM.
  void request_stop();

 private:
  struct state;
  std::unique_ptr<state> state_;
};

}  // namespace bkr::app
