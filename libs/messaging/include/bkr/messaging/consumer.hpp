// The consumer port (start, wake, graceful stop) and the loop shared by every backend: claim a batch,
// handle it, settle it, and sleep with an adaptive polling backstop between batches.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/messaging/handler.hpp"
#include "bkr/messaging/retry_policy.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace bkr::messaging {

/// Settings of one consumer. Tests use short leases and poll intervals; the defaults suit production.
struct consumer_options {
  std::string queue;
  std::string name;  ///< lease owner and counter row; empty: `<queue>/<uuid>` is generated
  std::size_t batch_size = 64;
  /// How long a claimed message stays ours without being settled; a killed consumer's messages run again
  /// after at most lease + reap_interval.
  std::chrono::milliseconds lease{5000};
  std::chrono::milliseconds poll_min{20};         ///< first idle wait after an empty claim
  std::chrono::milliseconds poll_max{1000};       ///< idle waits double up to this (the polling backstop)
  std::chrono::milliseconds reap_interval{1000};  ///< how often expired leases are returned to ready
  retry_policy retry;
  /// Whether each settlement waits for its commit to be flushed (backends with a durable store). Off, a
  /// crash of the store may undo the last settlements: their messages come back with them and run again
  /// (nothing lost, nothing applied twice), but outside effects of those handlers may repeat.
  bool synchronous_commit = true;
  random_source random;            ///< backoff jitter; empty: default_random_source()
  std::optional<bkr::logger> log;  ///< empty: nothing is logged
};

/// Counts kept by one consumer since it started (the cluster-wide counters live in admin stats).
struct consumer_counts {
  std::uint64_t processed = 0;
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  std::uint64_t lease_lost = 0;
  std::uint64_t batches = 0;
  std::uint64_t polls = 0;  ///< rounds of the consumer loop, including those that found nothing to claim
};

/// A running consumer of one queue. Owns its thread; start() once, stop() before destruction (the
/// destructor stops with a zero deadline). Thread-safe.
class consumer {
 public:
  virtual ~consumer() = default;
  virtual void start() = 0;
  /// Graceful stop: no new claims; the message in hand may finish until `deadline` (handlers see
  /// stop_requested()); claimed messages not yet started are handed back without spending an attempt.
  /// Joins the thread.
  virtual void stop(std::chrono::milliseconds deadline) = 0;
  /// A hint that the queue may have new messages (LISTEN/NOTIFY, a local publish).
  virtual void wake() = 0;
  virtual consumer_counts counts() const = 0;
};

/// The backend-independent part of a consumer: thread, wake-ups, adaptive polling, periodic reaping,
/// stop. Backends implement run_batch() and reap(). Owned like consumer.
class consumer_loop : public consumer {
 public:
  consumer_loop(consumer_options options, handler& h);
  ~consumer_loop() override;
  void start() override;
  void stop(std::chrono::milliseconds deadline) override;
  void wake() override;
  consumer_counts counts() const override;
  const consumer_options& options() const { return options_; }

 protected:
  struct batch_report {
    std::size_t claimed = 0;
    /// When the earliest delayed message becomes due, if the backend knows (shortens the idle wait).
    std::optional<std::chrono::milliseconds> next_due_in;
  };
  /// Claims up to batch_size messages, handles and settles them. Exceptions are logged and the loop
  /// continues after an idle wait.
  virtual batch_report run_batch() = 0;
  /// Returns expired leases of this queue to ready (or dead-letters them when out of attempts).
  virtual void reap() = 0;
  /// Called on the loop thread before it exits.
  virtual void on_exit() {}

  /// True once stop() was called (no new claims).
  bool stopping() const { return stopping_.load(); }
  /// True once the stop deadline passed (handlers should give up).
  bool deadline_passed() const { return deadline_passed_.load(); }
  /// The flag behind deadline_passed(), for handler contexts (stop_requested()).
  const std::atomic<bool>& deadline_flag() const { return deadline_passed_; }
  double random_unit() { return options_.random(); }
  void log_warn(std::string_view msg, const nlohmann::json& fields = {}) const;
  void log_error(std::string_view msg, const nlohmann::json& fields = {}) const;
  void log_debug(std::string_view msg, const nlohmann::json& fields = {}) const;

  handler& handler_;
  consumer_options options_;
  std::atomic<std::uint64_t> processed_{0}, retried_{0}, dead_lettered_{0}, lease_lost_{0}, batches_{0},
      polls_{0};

  /// Backends call it just before each claim (also one made ahead, inside a settlement): hints counted up
  /// to here announce messages that the claim can see, so they do not bring the next claim forward after a
  /// batch that was not full (see loop()).
  void note_claim();

  /// Joins the loop thread; backends call it first in their destructors so no virtual call races it.
  void shutdown_now() noexcept;

 private:
  void loop();
  void note_claim_unmarked();

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::uint64_t wakeups_ = 0;     ///< hints received so far (guarded by mutex_)
  std::uint64_t claim_seen_ = 0;  ///< wakeups_ when the last claim started (guarded by mutex_)
  bool notes_claims_ = false;     ///< the backend calls note_claim() (loop thread only)
  std::atomic<bool> stopping_{false};
  std::atomic<bool> deadline_passed_{false};
  bool started_ = false;
};

}  // namespace bkr::messaging
