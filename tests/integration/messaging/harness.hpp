// What the conformance suite needs from a backend: transactions to publish in, consumers, admin, a
// recorded side effect inside the settlement, and a consumer that dies mid-batch.
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/memory/broker.hpp"
#include "bkr/messaging/postgres/admin.hpp"
#include "bkr/messaging/postgres/consumer.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "pg_test_database.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace bkr::test {

/// Owns one backend instance for one test case. Used from the test's thread (record_effect from handlers).
class mq_harness {
 public:
  virtual ~mq_harness() = default;
  /// Runs `fn` with a publisher bound to a new unit of work, then commits it or rolls it back.
  virtual void in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit = true) = 0;
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
  /// A consumer of `queue` that claims up to `batch` messages with `lease`, starts handling, and dies
  /// (SIGKILL for Postgres) without settling or handing anything back. Returns once it is dead.
  virtual void kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                                       std::chrono::milliseconds lease) = 0;
  /// Gives `queue` this many partitions where the backend has partitions (the log backend); else nothing.
  virtual void set_partitions(const std::string& queue, int partitions) {
    (void)queue;
    (void)partitions;
  }
  /// Returns once the started `consumers` of one queue share its work (the log backend: each owns a
  /// partition); at once where any consumer may take any message.
  virtual void wait_shared(const std::vector<std::unique_ptr<messaging::consumer>>& consumers) {
    (void)consumers;
  }
};

class memory_harness final : public mq_harness {
 public:
  void in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit = true) override;
  std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o, messaging::handler& h,
                                                     bool wakeups = true) override;
  messaging::admin& admin() override { return broker_; }
  void record_effect(messaging::handler_context& ctx, const std::string& tag) override;
  std::map<std::string, int> effects() override;
  void failing_write(messaging::handler_context&) override { throw std::runtime_error("write failed"); }
  void kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                               std::chrono::milliseconds lease) override;

 private:
  messaging::memory::broker broker_;
  std::mutex mutex_;
  std::map<std::string, int> effects_;
};

/// What both Postgres backends' harnesses share: a migrated test database, a pool, the LISTEN notifier and
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
  pg_test_database db_;
  storage::connection_pool pool_;
  messaging::postgres::notifier notifier_;
};

/// The job-table backend on Postgres.
class pg_harness final : public pg_database_harness {
 public:
  pg_harness() : admin_(pool_) {}
  void in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit = true) override;
  std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o, messaging::handler& h,
                                                     bool wakeups = true) override;
  messaging::admin& admin() override { return admin_; }
  void kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                               std::chrono::milliseconds lease) override;

 private:
  messaging::postgres::admin admin_;
};

/// The log backend on Postgres (append-only log, cursors, delay lane).
class log_harness final : public pg_database_harness {
 public:
  log_harness() : admin_(pool_) {}
  void in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit = true) override;
  std::unique_ptr<messaging::consumer> make_consumer(messaging::consumer_options o, messaging::handler& h,
                                                     bool wakeups = true) override;
  messaging::admin& admin() override { return admin_; }
  void kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                               std::chrono::milliseconds lease) override;
  void set_partitions(const std::string& queue, int partitions) override;
  void wait_shared(const std::vector<std::unique_ptr<messaging::consumer>>& consumers) override;

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
