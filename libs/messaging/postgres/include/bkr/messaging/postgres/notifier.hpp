// One LISTEN connection per process that turns NOTIFYs on the mq channel into consumer wake-ups.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/messaging/consumer.hpp"

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace bkr::messaging::postgres {

/// The NOTIFY channel of the doorbells; the payload is the queue name.
inline constexpr const char* notify_channel = "bkr_mq";

/// Owns a dedicated connection and a thread. Reconnects after failures and then wakes every subscriber,
/// since notifications may have been missed: LISTEN is a hint, the consumers' polling keeps them correct.
/// Thread-safe; must outlive the consumers subscribed to it; stop() (or the destructor) joins.
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

  std::string conninfo_;
  std::optional<bkr::logger> log_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<bool> listening_{false};
  std::mutex mutex_;
  std::multimap<std::string, consumer*> subscribers_;
};

}  // namespace bkr::messaging::postgres
