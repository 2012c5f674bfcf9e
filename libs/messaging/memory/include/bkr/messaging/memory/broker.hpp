// The in-process backend, on the log and cursors of the Postgres backend (libs/messaging/README.md, "Postgres
// backend: the contract and why it holds"): a queue is P partitions (by key hash) of an append-only log of
// committed messages, read by one consumer group through a committed cursor per partition. Retries,
// postponements, delayed publishes and redriven dead letters wait in a delay lane; rejects and exhausted
// retries go to the dead letters. The consumers of a queue share its partitions (one owner at a time, a fair
// share each); a batch settles all or nothing under a fence (every cursor still where the batch read after,
// every partition still held under the same ownership epoch). No de-duplication and no priorities. For
// tests and single-process runs.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/handler.hpp"

#include <atomic>
#include <cstdint>
#include <deque>
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
/// consumers. Time comes from `clock` (the wall clock by default) so delays and retries can be tested.
class broker final : public admin {
 public:
  explicit broker(const bkr::clock& clock);
  broker();
  broker(const broker&) = delete;
  broker& operator=(const broker&) = delete;

  // admin. stats(): messages in hand stay ready until their batch settles (as in the Postgres backend);
  // `held_back` is always 0 (nothing becomes visible before its commit, so nothing waits behind one).
  std::vector<queue_stats> stats() override;
  std::vector<waiting_message> peek(std::string_view queue, std::size_t limit) override;
  std::vector<dead_letter> list_dead_letters(std::optional<std::string> queue, std::size_t limit) override;
  result<dead_letter> show_dead_letter(std::string_view message_id) override;
  /// Into the delay lane, due now, with a fresh attempt count.
  result<void> redrive(std::string_view message_id) override;
  std::size_t redrive_all(std::string_view queue) override;
  std::size_t purge_dead_letters(std::optional<std::string> queue) override;
  /// Moves every cursor of `queue` to the head of its partition and empties its delay lane; a batch in hand
  /// is then refused by the fence.
  std::size_t purge_queue(std::string_view queue) override;
  /// A paused queue keeps accepting messages but its consumers read nothing (the group does not advance).
  void pause(std::string_view queue) override;
  void resume(std::string_view queue) override;
  /// Sets the number of partitions of `queue` (1 by default, at most 256). It may only grow: messages
  /// already written stay in their partition.
  result<void> set_partitions(std::string_view queue, int partitions);

  // ---- used by memory::transaction and memory::consumer ----

  /// Appends committed messages (one transaction's) to their partitions, or to the delay lane when delayed.
  void apply_publishes(std::vector<outgoing_message> messages);
  void subscribe(const std::string& queue, messaging::consumer* c);
  void unsubscribe(const std::string& queue, messaging::consumer* c);

  using member_id = std::uint64_t;
  /// A consumer joins the group of `queue`; its fair share is taken at its next read().
  member_id join(const std::string& queue);
  /// The member leaves (a stop, or a process that died): its partitions are free at once and the
  /// settlement of any batch it still holds is refused.
  void leave(const std::string& queue, member_id member);
  /// Partitions `member` owns now, ascending.
  std::vector<int> owned(const std::string& queue, member_id member);

  /// One delivery of a batch and where it came from.
  struct item {
    delivery d;
    int part = 0;
    std::uint64_t offset = 0;   ///< log items: the position in the partition
    std::uint64_t lane_id = 0;  ///< delay-lane items: the entry's id (0 for log items)
    bool from_lane() const { return lane_id != 0; }
  };
  struct batch {
    std::vector<item> items;                  ///< log items by partition and position, then delay-lane items
    std::map<int, std::uint64_t> epochs;      ///< every owned partition: its ownership epoch at the read
    std::map<int, std::uint64_t> read_after;  ///< partitions with log items: the cursor read after
    std::uint64_t buried = 0;  ///< heads dead-lettered by this read (their consumers kept dying on them)
    std::optional<std::chrono::milliseconds> next_due_in;  ///< empty batch: when the lane has something due
  };
  /// Rebalances `member`'s partitions to its fair share, then reads the messages after its cursors and the
  /// due lane entries of its partitions. A head read again after its consumer died on it is charged an
  /// attempt and read alone; once its charges exceed `max_attempts` it is dead-lettered instead.
  batch read(const std::string& queue, member_id member, std::size_t batch_size, int max_attempts);

  /// What happens to one item of a batch.
  struct verdict {
    enum class kind { commit, retry, dead, handed_back } what = kind::handed_back;
    std::chrono::milliseconds delay{0};  ///< retry: until it is due again
    int attempts = 0;                    ///< retry, dead: attempts spent, this delivery included if counted
    std::string reason;                  ///< dead: the dead-letter reason
    std::string error;                   ///< retry, dead: the handler's last error
  };
  /// Settles `b` (one verdict per item, in order) and appends `publishes` (what its committed handlers
  /// published), all or nothing: false when the fence refused it (a partition was taken over, or a cursor
  /// or lane entry moved meanwhile), and then nothing was applied. A partition's cursor passes its items up
  /// to the first one handed back; the rest are read again.
  bool settle(const std::string& queue, member_id member, const batch& b,
              const std::vector<verdict>& verdicts, std::vector<outgoing_message> publishes);

 private:
  struct entry {
    envelope message;
    std::uint64_t seq = 0;  ///< commit order across the broker
    timestamp enqueued_at{};
  };
  struct lane_entry {
    int part = 0;
    envelope message;
    std::uint64_t seq = 0;
    int attempts = 0;  ///< spent so far (a batch in hand has spent its delivery's)
    timestamp run_at{};
    timestamp first_seen{};
    std::string last_error;
  };
  struct partition {
    std::deque<entry> log;     ///< the messages not consumed yet; the consumed ones are dropped
    std::uint64_t base = 0;    ///< position of log.front()
    std::uint64_t cursor = 0;  ///< the committed cursor: position of the first message not consumed
    /// Reads of the head (position `cursor`) since the cursor last moved whose batch did not settle it: a
    /// batch charges its head when it reads it; settling moves the cursor, handing back refunds.
    int tries = 0;
    member_id owner = 0;      ///< 0: free
    std::uint64_t epoch = 0;  ///< changes with every change of owner
    std::uint64_t end() const { return base + log.size(); }
  };
  struct queue_state {
    std::vector<partition> parts = std::vector<partition>(1);
    std::map<std::uint64_t, lane_entry> lane;  ///< by id
    std::set<member_id> members;
    std::uint64_t processed = 0, retried = 0, dead_lettered = 0;
    bool paused = false;
  };
  queue_state& queue_locked(std::string_view queue);
  int partition_of(const queue_state& q, const std::string& key) const;
  void append_locked(outgoing_message m, timestamp now);
  void lane_insert_locked(queue_state& q, lane_entry e);
  void advance_locked(partition& p, std::uint64_t to);
  void dead_letter_locked(const std::string& queue, queue_state& q, envelope message, int attempts,
                          std::string reason, std::string last_error, timestamp first_seen, timestamp now);
  /// Releases `member`'s partitions above its fair share and takes free ones up to it; whether any were
  /// released (the other members should look again).
  bool rebalance_locked(queue_state& q, member_id member);
  void release_locked(partition& p);
  void wake(const std::set<std::string>& queues);

  const bkr::clock& clock_;
  std::mutex mutex_;
  std::uint64_t seq_ = 0, lane_ids_ = 0, members_ = 0, epochs_ = 0;
  std::map<std::string, queue_state, std::less<>> queues_;
  std::map<std::string, dead_letter, std::less<>> dead_;  // by message id
  std::multimap<std::string, messaging::consumer*> subscribers_;
};

/// A consumer on a memory broker: a member of its queue's group from start() to stop(). Nothing is leased,
/// so `lease` and `reap_interval` play no part: a batch in hand is fenced by the cursors and the ownership
/// epochs. Ownership and threading as messaging::consumer.
class consumer final : public consumer_loop {
 public:
  consumer(broker& b, consumer_options options, handler& h);
  ~consumer() override;
  void start() override;
  void stop(std::chrono::milliseconds deadline) override;
  /// Test hook standing in for a killed process: its partitions are free at once (as when a session
  /// dies), it reads nothing from now on, and whatever batch it settles afterwards is refused by the fence
  /// (nothing of it is applied or published). Call stop() afterwards to join the thread.
  void abandon();
  /// Partitions owned right now (for tests).
  std::vector<int> owned_partitions();

 protected:
  batch_report run_batch() override;
  void reap() override {}  // nothing is leased: a batch in hand is fenced by the cursors

 private:
  std::vector<broker::verdict> handle(const broker::batch& b, std::vector<outgoing_message>& publishes,
                                      std::vector<std::function<void()>>& hooks);
  broker::verdict verdict_of(const broker::item& it, const handler_result& r);

  broker& broker_;
  std::atomic<bool> abandoned_{false};
  std::atomic<broker::member_id> member_{0};  ///< 0: not a member (before start, after stop or abandon)
};

}  // namespace bkr::messaging::memory
