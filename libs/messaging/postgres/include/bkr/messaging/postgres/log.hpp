// The log backend on Postgres: a queue is an append-only log (mq.log) read through a committed cursor per
// partition (mq.cursors); retries and delays go to a small delay lane (mq.delayed), poison to dead letters.
// libs/messaging/README.md ("Log backend") states the contract and the argument for its ordering.
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

namespace bkr::messaging::postgres {

/// Appends `messages` to the log inside `tx` in one statement (those with a delay go to the delay lane).
/// Nothing is visible before `tx` commits. The log keeps publish order and does not de-duplicate (consumers
/// are idempotent). Returns the number of rows written. Does not ring doorbells: call ring_doorbells()
/// after the commit. Throws std::invalid_argument on a bad message.
std::size_t append_to_log(pqxx::transaction_base& tx, std::span<const outgoing_message> messages);
/// Same, as a statement prepared once per pooled connection of `uow`.
std::size_t append_to_log(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages);

/// Wakes the consumers of `queues` (NOTIFY in its own statement with an asynchronous commit, so no
/// notification lock is held across a WAL flush). Call on a connection with no open transaction.
void ring_doorbells(pqxx::connection& conn, const std::vector<std::string>& queues);

/// A publisher bound to one unit of work that appends to the log; after uow.commit() it rings the doorbells
/// of the queues it published to (on the unit's connection). Used by the thread that owns the unit of work.
class log_publisher final : public messaging::publisher {
 public:
  explicit log_publisher(bkr::storage::unit_of_work& uow) : uow_(uow) {}
  void publish(outgoing_message message) override;
  void publish_many(std::vector<outgoing_message> messages) override;
  std::size_t appended() const { return appended_; }

 private:
  void ring_after_commit(const std::vector<outgoing_message>& messages);
  bkr::storage::unit_of_work& uow_;
  std::shared_ptr<std::set<std::string>> queues_ = std::make_shared<std::set<std::string>>();
  std::size_t appended_ = 0;
};

/// Log-specific settings on top of consumer_options (whose `lease` bounds how long a stopped or hung
/// consumer keeps its partitions and row locks, and `reap_interval` how often it maintains the log).
struct log_consumer_options {
  /// How often partition ownership is checked and free partitions are taken (a killed owner's partition is
  /// served again within about this).
  std::chrono::milliseconds ownership_interval{200};
  /// How often this consumer runs mq.log_maintain (partitions ahead, consumed ones dropped).
  std::chrono::milliseconds maintenance_interval{10000};
  /// The width, in transaction ids, of each log partition that maintenance creates.
  std::int64_t partition_width = 1 << 20;
};

/// Consumes one queue of the log. Owns the partitions it holds a session advisory lock for (on its own
/// connection, freed the moment that session ends); several consumers of a queue share its partitions.
/// A batch = the rows after each owned partition's cursor below the safe watermark, plus due rows of the
/// delay lane; its handlers' writes, the next messages and the cursor move commit in one transaction whose
/// first statement locks the cursors under their old positions (the fence). Ownership and threading as
/// messaging::consumer. The pool, handler and notifier must outlive it.
class log_consumer final : public consumer_loop {
 public:
  log_consumer(bkr::storage::connection_pool& pool, std::string conninfo, consumer_options options,
               handler& h, notifier* wakeups = nullptr, log_consumer_options log = {});
  ~log_consumer() override;
  void start() override;
  void stop(std::chrono::milliseconds deadline) override;
  /// Partitions owned right now (for tests and metrics).
  std::vector<int> owned_partitions() const;

 protected:
  batch_report run_batch() override;
  void reap() override;

 private:
  class owner;
  struct item;
  /// Per partition, a cursor position: (tx as text, seq).
  using cursor_positions = std::map<int, std::pair<std::string, long long>>;
  /// Handles and settles one batch read by run_batch() after the cursor positions `read_after`.
  void settle(std::vector<item>& batch, const cursor_positions& read_after);

  bkr::storage::connection_pool& pool_;
  notifier* notifier_;
  log_consumer_options log_;
  std::unique_ptr<owner> owner_;
  std::chrono::steady_clock::time_point next_maintenance_{};  ///< loop thread only
  /// The next wait while committed rows are held back by the watermark (doubles up to held_wait_max, or
  /// poll_max when that is shorter).
  std::chrono::milliseconds held_wait_{1};
  static constexpr std::chrono::milliseconds held_wait_max{64};
};

/// One partition of a queue: how far its cursor is behind the log, and its share of the delay lane.
struct partition_stats {
  int partition = 0;
  std::uint64_t lag = 0;        ///< rows after the cursor (counted up to the stats cap)
  bool lag_capped = false;      ///< `lag` stopped at the cap: at least that many
  std::uint64_t held_back = 0;  ///< of them, those the safe watermark still holds back
  /// Age of the first row after the cursor (how far behind the partition is in time); none when caught up.
  std::optional<std::chrono::milliseconds> lag_age;
  std::uint64_t delayed = 0;    ///< its rows in the delay lane (due or not)
  std::uint64_t processed = 0;  ///< rows its cursor has passed
};

/// Admin operations over the log (stats with lag per queue, delay lane, dead letters, redrive into the
/// delay lane, purge = cursors to the head, pause/resume). Thread-safe; the pool must outlive it.
class log_admin final : public messaging::admin {
 public:
  explicit log_admin(bkr::storage::connection_pool& pool) : pool_(pool) {}

  std::vector<queue_stats> stats() override;
  std::vector<waiting_message> peek(std::string_view queue, std::size_t limit) override;
  queue_stats stats_of(std::string_view queue);
  std::vector<dead_letter> list_dead_letters(std::optional<std::string> queue, std::size_t limit) override;
  result<dead_letter> show_dead_letter(std::string_view message_id) override;
  result<void> redrive(std::string_view message_id) override;
  std::size_t redrive_all(std::string_view queue) override;
  std::size_t purge_dead_letters(std::optional<std::string> queue) override;
  std::size_t purge_queue(std::string_view queue) override;
  void pause(std::string_view queue) override;
  void resume(std::string_view queue) override;
  /// Sets the number of partitions of `queue` (it may only grow: rows already written stay where they are).
  result<void> set_partitions(std::string_view queue, int partitions);
  /// Every partition of `queue` (at least one), in order.
  std::vector<partition_stats> partitions_of(std::string_view queue);

 private:
  bkr::storage::connection_pool& pool_;
};

}  // namespace bkr::messaging::postgres
