// The backends behind the messaging suites' harness interface.
#include "harness.hpp"

#include "mq_test_support.hpp"

#include "bkr/messaging/postgres/migrations.hpp"
#include "bkr/storage/migration.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <thread>

extern char** environ;

namespace bkr::test {

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  }
  return pred();
}

// ---- shared ----

void mq_harness::in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit) {
  auto tx = begin();
  fn(tx->publisher());
  if (commit)
    tx->commit();
}

void mq_harness::wait_shared(const std::vector<std::unique_ptr<messaging::consumer>>& consumers) {
  REQUIRE(wait_until(
      [&] {
        for (const auto& c : consumers) {
          auto owned = owned_partitions(*c);
          if (owned && owned->empty())
            return false;
        }
        return true;
      },
      std::chrono::seconds{10}));
}

namespace {

/// The transaction types of the backends behind open_transaction.
template <class Tx, class Publisher>
class held_transaction final : public open_transaction {
 public:
  template <class... Args>
  explicit held_transaction(Args&... args) : tx_(args...), publisher_(tx_) {}
  messaging::publisher& publisher() override { return publisher_; }
  void commit() override { tx_.commit(); }

 private:
  Tx tx_;
  Publisher publisher_;
};

/// A memory transaction is its own publisher.
class memory_transaction final : public open_transaction {
 public:
  explicit memory_transaction(messaging::memory::broker& b) : tx_(b) {}
  messaging::publisher& publisher() override { return tx_; }
  void commit() override { tx_.commit(); }

 private:
  messaging::memory::transaction tx_;
};

/// A memory consumer held in prepare() or in its first handle() until thawed or killed; thawed, it records
/// the effect "zombie" and publishes to `<queue>.next`.
class memory_held final : public held_consumer, public messaging::handler {
 public:
  memory_held(memory_harness& h, messaging::consumer_options o, bool in_prepare)
      : harness_(h), queue_(o.queue), in_prepare_(in_prepare), consumer_(h.broker(), std::move(o), *this) {
    consumer_.start();
    std::unique_lock lock(m_);
    REQUIRE(cv_.wait_for(lock, std::chrono::seconds{10}, [&] { return held_; }));
  }
  ~memory_held() override {
    release();
    consumer_.stop(std::chrono::milliseconds{0});
  }
  void kill() override {
    consumer_.abandon();  // from here on nothing it does reaches the broker
    release();
    consumer_.stop(std::chrono::milliseconds{0});
  }
  void freeze() override { consumer_.abandon(); }
  bool thaw_until_refused(std::chrono::milliseconds timeout) override {
    release();
    return wait_until([&] { return consumer_.counts().lease_lost > 0; }, timeout);
  }

  void prepare(std::span<const messaging::delivery>) override {
    if (in_prepare_)
      hold();
  }
  messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context& ctx) override {
    if (!in_prepare_)
      hold();
    harness_.record_effect(ctx, "zombie");
    ctx.publish(mq::msg(queue_ + ".next", "from-zombie-" + d.message.key));
    return messaging::handler_result::commit();
  }

 private:
  void hold() {
    std::unique_lock lock(m_);
    held_ = true;
    cv_.notify_all();
    cv_.wait(lock, [&] { return released_; });
  }
  void release() {
    {
      std::lock_guard lock(m_);
      released_ = true;
    }
    cv_.notify_all();
  }

  memory_harness& harness_;
  std::string queue_;
  bool in_prepare_;
  std::mutex m_;
  std::condition_variable cv_;
  bool held_ = false, released_ = false;
  messaging::memory::consumer consumer_;  // last: its thread stops before the members above go
};

/// The partitions a consumer of type C owns (the log-model consumers).
template <class C>
std::vector<int> owned_by(messaging::consumer& c) {
  auto* owner = dynamic_cast<C*>(&c);
  REQUIRE(owner != nullptr);
  return owner->owned_partitions();
}

messaging::consumer_options held_options(const std::string& queue, std::size_t batch,
                                         std::chrono::milliseconds lease) {
  messaging::consumer_options o;
  o.queue = queue;
  o.batch_size = batch;
  o.lease = lease;
  o.poll_min = std::chrono::milliseconds{5};
  o.poll_max = std::chrono::milliseconds{50};
  o.reap_interval = std::chrono::hours{1};  // a dead process reaps nothing
  return o;
}

/// A bkr_mq_test_consumer process held mid-batch.
class process_held final : public held_consumer {
 public:
  process_held(const std::vector<std::string>& args, const std::string& ready) : p_(args) {
    REQUIRE(p_.wait_for(ready, std::chrono::seconds{15}));
  }
  void kill() override { REQUIRE(p_.kill()); }
  void freeze() override { p_.signal(SIGSTOP); }
  bool thaw_until_refused(std::chrono::milliseconds timeout) override {
    p_.signal(SIGCONT);
    return p_.wait_for("lost 1", timeout);
  }

 private:
  consumer_process p_;
};

}  // namespace

// ---- memory ----

std::unique_ptr<open_transaction> memory_harness::begin() {
  return std::make_unique<memory_transaction>(broker_);
}

std::unique_ptr<messaging::consumer> memory_harness::make_consumer(messaging::consumer_options o,
                                                                   messaging::handler& h, bool) {
  return std::make_unique<messaging::memory::consumer>(broker_, std::move(o), h);
}

void memory_harness::record_effect(messaging::handler_context& ctx, const std::string& tag) {
  ctx.after_commit([this, tag] {
    std::lock_guard lock(mutex_);
    ++effects_[tag];
  });
}

std::map<std::string, int> memory_harness::effects() {
  std::lock_guard lock(mutex_);
  return effects_;
}

std::unique_ptr<held_consumer> memory_harness::hold(const std::string& queue, std::size_t batch,
                                                    std::chrono::milliseconds lease, held_in where) {
  return std::make_unique<memory_held>(*this, held_options(queue, batch, lease), where == held_in::prepare);
}

bool memory_harness::set_partitions(const std::string& queue, int partitions) {
  return broker_.set_partitions(queue, partitions).has_value();
}

std::optional<std::vector<int>> memory_harness::owned_partitions(messaging::consumer& c) {
  return owned_by<messaging::memory::consumer>(c);
}

// ---- postgres ----

pg_database_harness::pg_database_harness()
    : pool_({db_.conninfo(), 16, std::chrono::milliseconds{5000}}), notifier_(db_.conninfo()) {
  pqxx::connection conn(db_.conninfo());
  std::vector<storage::migration_set> sets{messaging::postgres::mq_migrations()};
  storage::migrate(conn, sets);
  pqxx::work tx(conn);
  tx.exec0("CREATE TABLE conformance_effects (tag text NOT NULL)");
  tx.commit();
  notifier_.start();
  REQUIRE(notifier_.wait_listening(std::chrono::seconds{10}));
}

pg_database_harness::~pg_database_harness() {
  notifier_.stop();
}

void pg_database_harness::record_effect(messaging::handler_context& ctx, const std::string& tag) {
  auto& uow = ctx.native<storage::unit_of_work>();
  uow.tx().exec_params("INSERT INTO conformance_effects (tag) VALUES ($1)", tag);
}

void pg_database_harness::failing_write(messaging::handler_context& ctx) {
  auto& uow = ctx.native<storage::unit_of_work>();
  uow.tx().exec("INSERT INTO conformance_effects (tag) VALUES (NULL)");  // violates NOT NULL
}

std::map<std::string, int> pg_database_harness::effects() {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::map<std::string, int> out;
  for (const auto& row : tx.exec("SELECT tag, count(*) FROM conformance_effects GROUP BY tag"))
    out[row[0].as<std::string>()] = row[1].as<int>();
  return out;
}

std::unique_ptr<held_consumer> pg_database_harness::hold_process(const std::string& queue, std::size_t batch,
                                                                 std::chrono::milliseconds lease,
                                                                 held_in where) {
  std::vector<std::string> args{db_.conninfo(), queue, std::to_string(batch), std::to_string(lease.count())};
  // Held in its handler, it has printed "handling" (the batch is claimed, its transaction open); held in
  // prepare() ("stall": it waits there 3 s, then its handler records "zombie" and publishes), "preparing".
  if (where == held_in::prepare)
    args.push_back("stall");
  return std::make_unique<process_held>(args, where == held_in::prepare ? "preparing" : "handling");
}

// ---- log ----

std::unique_ptr<open_transaction> log_harness::begin() {
  return std::make_unique<held_transaction<storage::unit_of_work, messaging::postgres::log_publisher>>(pool_);
}

std::unique_ptr<messaging::consumer> log_harness::make_consumer(messaging::consumer_options o,
                                                                messaging::handler& h, bool wakeups) {
  messaging::postgres::log_consumer_options lo;
  lo.ownership_interval = std::chrono::milliseconds{100};
  if (std::getenv("BKR_TEST_LOG") != nullptr && !o.log)  // debugging aid: the consumer's log on stdout
    o.log = bkr::logger("test", spdlog::level::debug);
  return std::make_unique<messaging::postgres::log_consumer>(pool_, db_.conninfo(), std::move(o), h,
                                                             wakeups ? &notifier_ : nullptr, lo);
}

std::unique_ptr<held_consumer> log_harness::hold(const std::string& queue, std::size_t batch,
                                                 std::chrono::milliseconds lease, held_in where) {
  return hold_process(queue, batch, lease, where);
}

bool log_harness::set_partitions(const std::string& queue, int partitions) {
  return admin_.set_partitions(queue, partitions).has_value();
}

std::optional<std::vector<int>> log_harness::owned_partitions(messaging::consumer& c) {
  return owned_by<messaging::postgres::log_consumer>(c);
}

// ---- a consumer process ----

consumer_process::consumer_process(const std::vector<std::string>& args) {
  int out[2];
  REQUIRE(::pipe(out) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], STDOUT_FILENO);
  posix_spawn_file_actions_addclose(&actions, out[0]);
  std::string exe = BKR_MQ_TEST_CONSUMER;
  std::vector<std::string> all{exe};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, exe.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  ::close(out[1]);
  out_ = out[0];
  REQUIRE(rc == 0);
  pid_ = pid;
}

consumer_process::~consumer_process() {
  kill();
  if (out_ >= 0)
    ::close(out_);
}

bool consumer_process::wait_for(const std::string& text, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (seen_.find(text) == std::string::npos && std::chrono::steady_clock::now() < until) {
    pollfd p{out_, POLLIN, 0};
    if (::poll(&p, 1, 50) > 0) {
      char buf[512];
      auto n = ::read(out_, buf, sizeof buf);
      if (n <= 0)
        break;
      seen_.append(buf, static_cast<std::size_t>(n));
    }
  }
  return seen_.find(text) != std::string::npos;
}

void consumer_process::signal(int sig) {
  if (pid_ > 0)
    ::kill(pid_, sig);
}

bool consumer_process::kill() {
  if (pid_ <= 0)
    return false;
  ::kill(pid_, SIGCONT);
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
  return WIFSIGNALED(status);
}

}  // namespace bkr::test
