// What the messaging suites need from a backend: transactions to publish in (also held open), consumers,
// admin, a recorded side effect inside the settlement, consumers held mid-batch (killed, or stopped and
// resumed), and partitions where the backend has them.
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/memory/broker.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "pg_test_database.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bkr::test {

/// A unit of work the test holds open: its publishes are not visible before commit(); destroyed without
/// commit() it rolls back.
class open_transaction {
 public:
  virtual ~open_transaction() = default;
  virtual messaging::publisher& publisher() = 0;
  virtual void commit() = 0;
};

/// A consumer held in the middle of a batch, as a process can be stopped there.
class held_consumer {
 public:
  virtual ~held_consumer() = default;
  /// Dies like a killed process (Postgres: SIGKILL; memory: abandon()): its partitions are free at once
  /// and nothing it does afterwards reaches the queue. Returns once it is dead.
  virtual void kill() = 0;
  /// Stops like a stopped process (Postgres: SIGSTOP, its partitions are free once the server ends its idle
  /// ownership session, after the lease; memory: abandon(), free at once).
  virtual void freeze() = 0;
  /// Lets a frozen consumer go on: it handles the batch it holds (records the effect "zombie", publishes
  /// to `<queue>.next`) and tries to settle it. Returns whether that settlement was refused within `timeout`.
  virtual bool thaw_until_refused(std::chrono::milliseconds timeout) = 0;
};

/// Owns one backend instance for one test case. Used from the test's thread (record_effect from handlers).
class mq_harness {
 public:
  virtual ~mq_harness() = default;
  /// A new unit of work with a publisher bound to it.
  virtual std::unique_ptr<open_transaction> begin() = 0;
  /// Runs `fn` with a publisher bound to a new unit of work, then commits it or rolls it back.
  void in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit = true);
  /// A consumer; `wakeups` false leaves it to its polling backstop.
  virtual std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o,
                                                             messaging::handler& h, bool wakeups = true) = 0;
  virtual messaging::admin& admin() = 0;
  /// Writes a side effect tagged `tag` in the handler's transaction (it must commit with the settlement).
  virtual void record_effect(messaging::handler_context& ctx, const std::string& tag) = 0;
  /// Committed side effects by tag.
  virtual std::map<std::string, int> effects() = 0;
  /// A write in the handler's transaction that fails (Postgres: an SQL error that aborts the transaction).
  virtual void failing_write(messaging::handler_context& ctx) = 0;
  /// Where hold() stops a consumer: in its handler on the first message (which never finishes), or in
  /// prepare().
  enum class held_in { handler, prepare };
  /// A consumer of `queue` that claims up to `batch` messages with `lease` and stops in the middle of that
  /// batch, `where` says. Returns once it is there.
  virtual std::unique_ptr<held_consumer> hold(const std::string& queue, std::size_t batch,
                                              std::chrono::milliseconds lease, held_in where) = 0;
  /// A consumer of `queue` that claims up to `batch` messages with `lease`, starts handling, and dies
  /// (SIGKILL for Postgres) without settling or handing anything back. Returns once it is dead.
  void kill_consumer_mid_batch(const std::string& queue, std::size_t batch, std::chrono::milliseconds lease) {
    hold(queue, batch, lease, held_in::handler)->kill();
  }
  /// Gives `queue` this many partitions where the backend has partitions; returns whether
  /// that was accepted (they may only grow). Backends without partitions accept anything and do nothing.
  virtual bool set_partitions(const std::string& queue, int partitions) {
    (void)queue;
    (void)partitions;
    return true;
  }
  /// The partitions `c` (made by make_consumer) owns now; nullopt where any consumer may take any message.
  virtual std::optional<std::vector<int>> owned_partitions(messaging::consumer& c) {
    (void)c;
    return std::nullopt;
  }
  /// Returns once the started `consumers` of one queue share its work (each owns a partition); at once
  /// where any consumer may take any message.
  void wait_shared(const std::vector<std::unique_ptr<messaging::consumer>>& consumers);
};

/// The memory backend (the log and cursors in process).
class memory_harness final : public mq_harness {
 public:
  std::unique_ptr<open_transaction> begin() override;
  std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o, messaging::handler& h,
                                                     bool wakeups = true) override;
  messaging::admin& admin() override { return broker_; }
  void record_effect(messaging::handler_context& ctx, const std::string& tag) override;
  std::map<std::string, int> effects() override;
  void failing_write(messaging::handler_context&) override { throw std::runtime_error("write failed"); }
  std::unique_ptr<held_consumer> hold(const std::string& queue, std::size_t batch,
                                      std::chrono::milliseconds lease, held_in where) override;
  bool set_partitions(const std::string& queue, int partitions) override;
  std::optional<std::vector<int>> owned_partitions(messaging::consumer& c) override;

  messaging::memory::broker& broker() { return broker_; }

 private:
  messaging::memory::broker broker_;
  std::mutex mutex_;
  std::map<std::string, int> effects_;
};

/// The Postgres harness's database side: a migrated test database, a pool, the LISTEN notifier and
/// the effects table written in handlers' transactions.
class pg_database_harness : public mq_harness {
 public:
  pg_database_harness();
  ~pg_database_harness() override;
  void record_effect(messaging::handler_context& ctx, const std::string& tag) override;
  std::map<std::string, int> effects() override;
  void failing_write(messaging::handler_context& ctx) override;

  storage::connection_pool& pool() { return pool_; }
  const std::string& conninfo() const { return db_.conninfo(); }

 protected:
  /// A bkr_mq_test_consumer process on this database held `where`.
  std::unique_ptr<held_consumer> hold_process(const std::string& queue, std::size_t batch,
                                              std::chrono::milliseconds lease, held_in where);

  pg_test_database db_;
  storage::connection_pool pool_;
  messaging::postgres::notifier notifier_;
};

/// The log backend on Postgres (append-only log, cursors, delay lane).
class log_harness final : public pg_database_harness {
 public:
  log_harness() : admin_(pool_) {}
  std::unique_ptr<open_transaction> begin() override;
  std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o, messaging::handler& h,
                                                     bool wakeups = true) override;
  messaging::admin& admin() override { return admin_; }
  std::unique_ptr<held_consumer> hold(const std::string& queue, std::size_t batch,
                                      std::chrono::milliseconds lease, held_in where) override;
  bool set_partitions(const std::string& queue, int partitions) override;
  std::optional<std::vector<int>> owned_partitions(messaging::consumer& c) override;

  messaging::postgres::log_admin& log_admin() { return admin_; }

 private:
  messaging::postgres::log_admin admin_;
};

/// A test consumer process (bkr_mq_test_consumer) and its output. Killed (SIGKILL) on destruction.
class consumer_process {
 public:
  /// `args` after the executable: CONNINFO QUEUE BATCH_SIZE LEASE_MS [MODE].
  explicit consumer_process(const std::vector<std::string>& args);
  ~consumer_process();
  consumer_process(const consumer_process&) = delete;
  consumer_process& operator=(const consumer_process&) = delete;
  /// Reads output until it contains `text` or `timeout` passes; returns whether it does.
  bool wait_for(const std::string& text, std::chrono::milliseconds timeout);
  void signal(int sig);
  /// SIGKILL and reap; returns whether it died of the signal.
  bool kill();
  const std::string& output() const { return seen_; }

 private:
  int pid_ = -1;
  int out_ = -1;
  std::string seen_;
};

/// Polls `pred` until it holds or `timeout` passes; returns its last value.
bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout);

}  // namespace bkr::test
