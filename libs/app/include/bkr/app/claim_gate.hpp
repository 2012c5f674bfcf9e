// Stops a worker's consumer from claiming while a required dependency is out (circuit open), and starts it
// again when a probe may go, so that an outage does not burn the messages' attempts.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/messaging/consumer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

namespace bkr::app {

struct claim_gate_options {
  /// How often the gate is looked at; the delay between a circuit opening and claims stopping (messages
  /// claimed meanwhile fail fast on the open circuit and are retried).
  std::chrono::milliseconds check_interval{100};
  /// How long a batch in flight may take to finish when the gate closes; unstarted messages of the batch
  /// are handed back without spending an attempt.
  std::chrono::milliseconds pause_deadline{2000};
};

/// A consumer that runs only while `may_claim()` is true. The messaging consumer has no pause hook of its
/// own, so the gate stops it (in-flight work finishes, unstarted claims are handed back) and creates a new
/// one from `make` when claiming may resume; a consumer cannot be restarted once stopped, hence the
/// factory. `may_claim` is typically "every required circuit breaker lets calls through" (half-open
/// counts: the next batch carries the probe). Owns a watcher thread once started; stop() joins it and
/// stops the current consumer. Thread-safe. `make`'s captures and `may_claim`'s must outlive it.
class gated_consumer final : public messaging::consumer {
 public:
  using factory = std::function<std::unique_ptr<messaging::consumer>()>;

  gated_consumer(factory make, std::function<bool()> may_claim, claim_gate_options options = {},
                 std::optional<bkr::logger> log = std::nullopt);
  ~gated_consumer() override;

  void start() override;
  void stop(std::chrono::milliseconds deadline) override;
  void wake() override;
  /// Counts of every consumer this gate has run.
  messaging::consumer_counts counts() const override;

  /// True while a consumer is running (claims may happen).
  bool claiming() const { return claiming_.load(); }
  /// Re-evaluates the gate now instead of at the next check (e.g. from a breaker's state listener).
  void poke();

 private:
  void watch();
  void open_gate();
  void close_gate(std::chrono::milliseconds deadline);

  factory make_;
  std::function<bool()> may_claim_;
  claim_gate_options options_;
  std::optional<bkr::logger> log_;

  mutable std::mutex mutex_;  // guards current_, finished_, poked_, started_
  std::condition_variable cv_;
  std::unique_ptr<messaging::consumer> current_;
  messaging::consumer_counts finished_;
  bool poked_ = false;
  bool started_ = false;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> claiming_{false};
  std::thread watcher_;
};

}  // namespace bkr::app
