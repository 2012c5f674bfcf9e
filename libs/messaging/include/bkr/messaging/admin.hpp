// The admin port: per-queue statistics, the messages waiting, dead letters (list, show, redrive, purge),
// purge, pause/resume.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/messaging/envelope.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::messaging {

struct queue_stats {
  std::string queue;
  /// Not consumed yet and due: after a partition's cursor (also those a batch has in hand until it settles,
  /// and those the watermark holds back), or due in the delay lane.
  std::uint64_t ready = 0;
  std::uint64_t delayed = 0;  ///< in the delay lane, not due yet (delayed publish or retry backoff)
  std::uint64_t dead = 0;     ///< dead letters from this queue
  std::optional<std::chrono::milliseconds> oldest_ready_age;
  std::uint64_t processed = 0;  ///< committed since the queue existed
  std::uint64_t retried = 0;
  std::uint64_t dead_lettered = 0;
  bool paused = false;
  /// Log backend: how many of the ready messages the safe watermark still holds back (a write transaction
  /// that has been running since before they committed, anywhere in the cluster, delays them).
  std::uint64_t held_back = 0;
  /// `ready` (and `held_back`) stopped counting at the backend's cap (the Postgres backend counts 10,000
  /// rows per partition): the backlog is at least that deep; `oldest_ready_age` is exact either way.
  bool ready_capped = false;
};

/// A message that will not run again unless redriven. Keeps its provenance.
struct dead_letter {
  std::string queue;
  envelope message;  ///< message.attempt: attempts made
  std::string reason;
  std::string last_error;
  timestamp first_seen{};  ///< first publish
  timestamp last_seen{};   ///< when it was dead-lettered
};

/// A message of a queue that has not been consumed yet (peek): waiting on the queue, or in its delay lane.
struct waiting_message {
  std::string queue;
  envelope message;  ///< message.attempt: attempts spent so far
  timestamp enqueued_at{};
  timestamp run_at{};  ///< when it may run (its enqueue time when it could run at once)
  bool delayed =
      false;  ///< off the queue until run_at: a delayed publish, a retry, a postponement, a redrive
  std::string last_error;
};

/// Operator actions on the queues. Implementations are thread-safe.
class admin {
 public:
  virtual ~admin() = default;
  /// Every queue that has messages, dead letters, counters or a pause flag, by name.
  virtual std::vector<queue_stats> stats() = 0;
  /// Up to `limit` messages of `queue` not consumed yet (ready, held back, delayed; in hand of a consumer
  /// until it settles), in the order they were enqueued. Dead letters are not included.
  virtual std::vector<waiting_message> peek(std::string_view queue, std::size_t limit) = 0;
  virtual std::vector<dead_letter> list_dead_letters(std::optional<std::string> queue, std::size_t limit) = 0;
  virtual result<dead_letter> show_dead_letter(std::string_view message_id) = 0;
  /// Moves the dead letter back to its queue, ready now, with a fresh attempt count.
  virtual result<void> redrive(std::string_view message_id) = 0;
  /// Redrives every dead letter of `queue`; returns how many.
  virtual std::size_t redrive_all(std::string_view queue) = 0;
  /// Deletes dead letters of `queue` (all queues when empty); returns how many.
  virtual std::size_t purge_dead_letters(std::optional<std::string> queue) = 0;
  /// Drops the ready and delayed messages of `queue` committed before the call (those in a consumer's hand
  /// are left to it). The log backend first waits, up to 5 s, for its safe watermark to pass them.
  virtual std::size_t purge_queue(std::string_view queue) = 0;
  /// A paused queue keeps accepting messages but no consumer claims from it.
  virtual void pause(std::string_view queue) = 0;
  virtual void resume(std::string_view queue) = 0;
};

/// The stats of `queue` from a stats() answer (zeros when absent).
queue_stats find_stats(const std::vector<queue_stats>& all, std::string_view queue);

}  // namespace bkr::messaging
