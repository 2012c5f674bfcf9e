// Partition ownership of one log consumer (internal header): a dedicated session that holds one session
// advisory lock per owned partition, takes free partitions up to a fair share, and keeps itself alive.
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/postgres/log.hpp"

#include <pqxx/pqxx>

#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace bkr::messaging::postgres {

/// Thread-safe. `wake` is called when a partition is gained; start() once, stop() before destruction.
class log_consumer::owner {
 public:
  owner(std::string conninfo, std::string queue, std::chrono::milliseconds interval,
        std::chrono::milliseconds session_timeout, consumer* wake, std::optional<bkr::logger> log);
  ~owner();
  void start();
  /// Releases every partition (the session ends) and joins the thread.
  void stop();
  /// Partitions owned now, ascending.
  std::vector<int> owned() const;
  /// Owned partitions whose head this consumer has not charged yet since it took them: the head may have
  /// killed the consumer before (careful mode).
  std::set<int> fresh() const;
  /// The head of `part` was charged an attempt: its batches run as usual from now on.
  void charged(int part);

 private:
  void run();
  void tick();
  void drop_session(const std::string& why);

  const std::string conninfo_, queue_;
  const std::chrono::milliseconds interval_, session_timeout_;
  consumer* wake_;
  std::optional<bkr::logger> log_;
  std::unique_ptr<pqxx::connection> conn_;  // owner thread only
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::set<int> owned_, fresh_;
  bool satisfied_ = false;  ///< owns its fair share (as of the last look)
  bool stop_ = false;
  std::thread thread_;
};

}  // namespace bkr::messaging::postgres
