// The in-process backend: queues in memory with the same semantics as the Postgres backend (leases,
// fencing, retries, dead letters, delays, priorities, pause), for tests and single-process runs.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/handler.hpp"

#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace bkr::messaging::memory {

class broker;

/// A unit of work on the broker: publishes are buffered and become visible together at commit();
/// destroyed without commit() they vanish. Used by one thread; must not outlive its broker.
class transaction final : public publisher {
 public:
  explicit transaction(broker& b) : broker_(b) {}
  ~transaction() override = default;
  transaction(const transaction&) = delete;
  transaction& operator=(const transaction&) = delete;

  void publish(outgoing_message message) override;
  void commit();
  void rollback() { pending_.clear(); }

 private:
  broker& broker_;
  std::vector<outgoing_message> pending_;
  bool committed_ = false;
};

/// Holds every queue of the process. Thread-safe (one mutex); must outlive its transactions and
/// consumers. Time comes from `clock` (the wall clock by default) so leases and delays can be tested.
class broker final : public admin {
 public:
  explicit broker(const bkr::clock& clock);
  broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  // admin
  std::vector<queue_stats> stats() override;
  std::vector<waiting_message> peek(std::string_view queue, std::size_t limit) override;
  std::vector<dead_letter> list_dead_letters(std::optional<std::string> queue, std::size_t limit) override;
  result<dead_letter> show_dead_letter(std::string_view message_id) override;
  result<void> redrive(std::string_view message_id) override;
  std::size_t redrive_all(std::string_view queue) override;
  std::size_t purge_dead_letters(std::optional<std::string> queue) override;
  std::size_t purge_queue(std::string_view queue) override;
  void pause(std::string_view queue) override;
  void resume(std::string_view queue) override;

  // Used by memory::consumer and memory::transaction.
  struct claimed {
    delivery d;
    std::uint64_t fence = 0;
  };
  struct committed {
    std::string id;
    std::uint64_t fence = 0;
    std::vector<outgoing_message> publishes;
  };
  struct retried {
    std::string id;
    std::uint64_t fence = 0;
    std::chrono::milliseconds delay{0};
    std::string error;
    bool attempt_spent = true;  ///< false: postponed, the claim's attempt is given back
  };
  struct rejected {
    std::string id;
    std::uint64_t fence = 0;
    std::string reason;
    std::string error;
  };
  struct released {
    std::string id;
    std::uint64_t fence = 0;
  };
  struct settlement {
    std::vector<committed> done;
    std::vector<retried> retries;
    std::vector<rejected> dead;
    std::vector<released> handed_back;
  };
  /// Ids whose fence no longer matched (the lease was lost): nothing of theirs was applied.
  std::set<std::string> settle(const std::string& queue, const std::string& owner, settlement s);
  std::vector<claimed> claim(const std::string& queue, std::size_t n, const std::string& owner,
                             std::chrono::milliseconds lease);
  std::optional<std::chrono::milliseconds> next_due_in(const std::string& queue);
  /// Expired leases back to ready, or to the dead letters when out of attempts; returns how many.
  std::size_t reap(const std::string& queue, int max_attempts);
  void apply_publishes(std::vector<outgoing_message> messages);
  void subscribe(const std::string& queue, messaging::consumer* c);
  void unsubscribe(const std::string& queue, messaging::consumer* c);

 private:
  struct stored {
    outgoing_message m;
    std::uint64_t seq = 0;
    std::uint64_t fence = 0;
    int attempt = 0;
    timestamp run_at{};
    std::optional<timestamp> leased_until;
    std::string owner;
    timestamp enqueued_at{};
    std::string last_error;
  };
  struct counters {
    std::uint64_t processed = 0, retried = 0, dead_lettered = 0;
  };
  void insert_locked(outgoing_message m, timestamp now);
  void dead_letter_locked(stored& s, std::string reason, timestamp now);
  void wake(const std::set<std::string>& queues);

  const bkr::clock& clock_;
  std::mutex mutex_;
  std::uint64_t seq_ = 0;
  std::map<std::string, stored> messages_;   // by message id
  std::map<std::string, dead_letter> dead_;  // by message id
  std::set<std::pair<std::string, std::string>> dedup_;
  std::map<std::string, counters, std::less<>> counters_;
  std::set<std::string, std::less<>> paused_;
  std::multimap<std::string, messaging::consumer*> subscribers_;
};

/// A consumer on a memory broker. Ownership and threading as messaging::consumer.
class consumer final : public consumer_loop {
 public:
  consumer(broker& b, consumer_options options, handler& h);
  ~consumer() override;
  /// Test hook standing in for a killed process: from now on nothing is settled or handed back, so the
  /// messages in hand stay leased until their leases expire. Call stop() afterwards to join the thread.
  void abandon() { abandoned_ = true; }

 protected:
  batch_report run_batch() override;
  void reap() override;
  void on_exit() override;

 private:
  broker& broker_;
  std::atomic<bool> abandoned_{false};
};

}  // namespace bkr::messaging::memory
