// One LISTEN connection per process that turns the doorbells of its consumers' queues into wake-ups.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/messaging/consumer.hpp"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>

namespace bkr::messaging::postgres {

/// The NOTIFY channel of `queue`'s doorbell: `bkr_mq:<queue>`, or for a name too long for an identifier
/// (63 bytes) its first 39 characters, `#` and 16 hex digits of its SHA-256. SQL: mq.channel(queue).
std::string channel_of(std::string_view queue);

/// Owns a dedicated connection and a thread that LISTENs on the channel of every queue with a subscriber
/// (and only those: a doorbell of another queue never wakes this process). Reconnects after failures and
/// then wakes every subscriber, since notifications may have been missed: LISTEN is a hint, the consumers'
/// polling keeps them correct. subscribe() returns once the queue's channel is listened to (at most 1 s
/// while connected). Thread-safe; must outlive the consumers subscribed to it; stop() (or the destructor)
/// joins.
class notifier {
 public:
  explicit notifier(std::string conninfo, std::optional<bkr::logger> log = std::nullopt);
  ~notifier();
  notifier(const notifier&) = delete;
  notifier& operator=(const notifier&) = delete;

  void start();
  void stop();
  void subscribe(const std::string& queue, consumer* c);
  void unsubscribe(const std::string& queue, consumer* c);
  /// True while the LISTEN connection is up (for readiness and tests).
  bool listening() const { return listening_.load(); }
  /// Blocks until listening or `timeout` passes; returns listening().
  bool wait_listening(std::chrono::milliseconds timeout) const;

 private:
  void run();
  void dispatch(const std::string& queue);
  void wake_all();
  /// The queues with at least one subscriber.
  std::set<std::string> wanted();

  std::string conninfo_;
  std::optional<bkr::logger> log_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::mutex mutex_;
  std::multimap<std::string, consumer*> subscribers_;
  std::set<std::string> listened_;    ///< queues whose channel the connection LISTENs to (under mutex_)
  std::atomic<unsigned> changes_{0};  ///< bumped by every subscribe/unsubscribe: the thread looks again
  std::condition_variable changed_;
};

}  // namespace bkr::messaging::postgres
