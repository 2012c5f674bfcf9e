// The two backends behind the conformance suite's harness interface.
#include "harness.hpp"

#include "bkr/messaging/postgres/migrations.hpp"
#include "bkr/messaging/postgres/publisher.hpp"
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

// ---- memory ----

void memory_harness::in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit) {
  messaging::memory::transaction tx(broker_);
  fn(tx);
  if (commit)
    tx.commit();
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

void memory_harness::kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                                             std::chrono::milliseconds lease) {
  std::mutex m;
  std::condition_variable cv;
  bool started = false, released = false;
  messaging::function_handler h([&](const messaging::delivery&, messaging::handler_context&) {
    std::unique_lock lock(m);
    started = true;
    cv.notify_all();
    cv.wait(lock, [&] { return released; });
    return messaging::handler_result::commit();
  });
  messaging::consumer_options o;
  o.queue = queue;
  o.batch_size = batch;
  o.lease = lease;
  o.reap_interval = std::chrono::hours{1};  // a dead process reaps nothing
  messaging::memory::consumer c(broker_, o, h);
  c.start();
  {
    std::unique_lock lock(m);
    REQUIRE(cv.wait_for(lock, std::chrono::seconds{10}, [&] { return started; }));
  }
  // From here on the consumer behaves as if its process had died: nothing it does reaches the broker.
  c.abandon();
  {
    std::lock_guard lock(m);
    released = true;
  }
  cv.notify_all();
  c.stop(std::chrono::milliseconds{0});
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

void pg_harness::in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit) {
  storage::unit_of_work uow(pool_);
  messaging::postgres::publisher p(uow);
  fn(p);
  if (commit)
    uow.commit();
}

std::unique_ptr<messaging::consumer> pg_harness::make_consumer(messaging::consumer_options o,
                                                               messaging::handler& h, bool wakeups) {
  return std::make_unique<messaging::postgres::consumer>(pool_, std::move(o), h,
                                                         wakeups ? &notifier_ : nullptr);
}

void pg_harness::kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                                         std::chrono::milliseconds lease) {
  consumer_process p({db_.conninfo(), queue, std::to_string(batch), std::to_string(lease.count())});
  // The first "handling" line: the batch is claimed and its transaction is open.
  REQUIRE(p.wait_for("handling", std::chrono::seconds{15}));
  REQUIRE(p.kill());
}

// ---- log ----

void log_harness::in_transaction(const std::function<void(messaging::publisher&)>& fn, bool commit) {
  storage::unit_of_work uow(pool_);
  messaging::postgres::log_publisher p(uow);
  fn(p);
  if (commit)
    uow.commit();
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

void log_harness::kill_consumer_mid_batch(const std::string& queue, std::size_t batch,
                                          std::chrono::milliseconds lease) {
  consumer_process p({db_.conninfo(), queue, std::to_string(batch), std::to_string(lease.count()), "log"});
  REQUIRE(p.wait_for("handling", std::chrono::seconds{15}));
  REQUIRE(p.kill());
}

void log_harness::set_partitions(const std::string& queue, int partitions) {
  REQUIRE(admin_.set_partitions(queue, partitions).has_value());
}

void log_harness::wait_shared(const std::vector<std::unique_ptr<messaging::consumer>>& consumers) {
  REQUIRE(wait_until(
      [&] {
        for (const auto& c : consumers) {
          auto* lc = dynamic_cast<messaging::postgres::log_consumer*>(c.get());
          if (lc == nullptr || lc->owned_partitions().empty())
            return false;
        }
        return true;
      },
      std::chrono::seconds{10}));
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
