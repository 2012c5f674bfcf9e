// The worker process: construction in dependency order, the run loop, and the graceful stop.
#include "bkr/app/worker_runtime.hpp"

#include "bkr/app/claim_gate.hpp"
#include "bkr/app/stage_handler.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/http/ops_listener.hpp"
#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/messaging/postgres/migrations.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/migration.hpp"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <ctime>
#include <mutex>
#include <stdexcept>
#include <thread>

#ifndef BKR_VERSION
#define BKR_VERSION "0.0.0"
#endif

namespace bkr::app {
namespace {

sigset_t stop_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

double breaker_gauge_value(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return 0;
    case breaker_state::half_open:
      return 1;
    case breaker_state::open:
      return 2;
  }
  return 2;
}

}  // namespace

struct worker_runtime::state {
  state(worker_settings s, worker_config c)
      : settings(std::move(s)),
        cfg(std::move(c)),
        producer(executable_name(settings)),
        log(producer, cfg.log_level),
        instance(new_uuid_v7()) {}

  worker_settings settings;
  worker_config cfg;
  std::string producer;
  bkr::logger log;
  std::string instance;  // names this process's consumers (lease owner, counter rows)
  metrics::registry registry;
  bkr::system_clock clock;
  std::unique_ptr<storage::connection_pool> pool;
  std::unique_ptr<messaging::postgres::notifier> notifier;
  std::unique_ptr<http::ops_listener> ops;
  mutable std::mutex breakers_mutex;  // the ops thread reads the list while main may still add to it
  std::vector<std::unique_ptr<circuit_breaker>> breakers;

  std::atomic<bool> stop_requested{false};
  std::atomic<bool> consuming{false};
  std::atomic<bool> database_ok{false};

  // The statistics poller: refreshes queue gauges, database reachability and breaker gauges.
  std::mutex stats_mutex;
  std::condition_variable stats_cv;
  bool stats_stopping = false;
  nlohmann::json queues = nlohmann::json::array();

  bool all_breakers_allow_claims() const {
    std::lock_guard lock(breakers_mutex);
    for (const auto& b : breakers)
      if (!b->may_claim())
        return false;
    return true;
  }

  // The gated consumers run() made: a breaker's state change re-evaluates their gates at once rather than
  // at their next periodic check.
  std::mutex gates_mutex;
  std::vector<gated_consumer*> gates;

  void poke_gates() {
    std::lock_guard lock(gates_mutex);
    for (auto* g : gates)
      g->poke();
  }

  /// /healthz `breakers`: `postgres` (open while the last statistics poll failed: the consumers' claims
  /// fail then too) and every breaker of an outside dependency, each `{state, ...}`.
  nlohmann::json breakers_json() const {
    auto j = nlohmann::json::object();
    j["postgres"] = {{"state", database_ok.load() ? "closed" : "open"}};
    std::lock_guard lock(breakers_mutex);
    for (const auto& b : breakers)
      j[b->name()] = b->to_json();
    return j;
  }

  bool has_breakers() const {
    std::lock_guard lock(breakers_mutex);
    return !breakers.empty();
  }

  void poll_stats();
  void stats_loop();
  void wait_for_stop();
};

void worker_runtime::state::poll_stats() {
  auto& depth = registry.add_gauge(
      "bkr_queue_messages",
      "Messages of the consumed queue by state (ready, delayed, dead; held_back: of the ready ones, those "
      "a long transaction holds back), all consumers",
      {"queue", "state"});
  auto& oldest = registry.add_gauge("bkr_queue_oldest_ready_age_seconds",
                                    "Age of the oldest ready message of the consumed queue", {"queue"});
  auto& settled = registry.add_gauge("bkr_queue_settled_messages",
                                     "Messages of the consumed queue settled since it existed, by result "
                                     "(processed, retried, dead_lettered), all consumers",
                                     {"queue", "result"});
  auto& breaker_gauge = registry.add_gauge(
      "bkr_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", {"breaker"});
  {
    std::lock_guard lock(breakers_mutex);
    for (const auto& b : breakers)
      breaker_gauge.with({b->name()}).set(breaker_gauge_value(b->state()));
  }
  try {
    // Only this worker's queue: `bkrctl queues stats` shows them all.
    const auto q = messaging::postgres::stats_of(*pool, settings.queue);
    auto list = nlohmann::json::array();
    {
      depth.with({q.queue, "ready"}).set(static_cast<double>(q.ready));
      depth.with({q.queue, "delayed"}).set(static_cast<double>(q.delayed));
      depth.with({q.queue, "dead"}).set(static_cast<double>(q.dead));
      // Ready messages a long-running write transaction elsewhere in the cluster holds back.
      depth.with({q.queue, "held_back"}).set(static_cast<double>(q.held_back));
      const double age = q.oldest_ready_age ? static_cast<double>(q.oldest_ready_age->count()) / 1000.0 : 0.0;
      oldest.with({q.queue}).set(age);
      settled.with({q.queue, "processed"}).set(static_cast<double>(q.processed));
      settled.with({q.queue, "retried"}).set(static_cast<double>(q.retried));
      settled.with({q.queue, "dead_lettered"}).set(static_cast<double>(q.dead_lettered));
      list.push_back({{"queue", q.queue},
                      {"ready", q.ready},
                      {"delayed", q.delayed},
                      {"dead", q.dead},
                      {"oldestReadyAgeSeconds", age},
                      {"paused", q.paused}});
    }
    {
      std::lock_guard lock(stats_mutex);
      queues = std::move(list);
    }
    if (!database_ok.exchange(true))
      log.info("database reachable");
  } catch (const std::exception& e) {
    if (database_ok.exchange(false))
      log.error("database unreachable", {{"error", e.what()}});
  }
}

void worker_runtime::state::stats_loop() {
  for (;;) {
    poll_stats();
    std::unique_lock lock(stats_mutex);
    if (stats_cv.wait_for(lock, cfg.stats_interval, [&] { return stats_stopping; }))
      return;
  }
}

void worker_runtime::state::wait_for_stop() {
  const auto set = stop_signals();
  const timespec tick{0, 100'000'000};
  while (!stop_requested) {
    const int sig = sigtimedwait(&set, nullptr, &tick);
    if (sig == SIGINT || sig == SIGTERM) {
      log.info("stop signal received", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
      return;
    }
  }
  log.info("stop requested");
}

worker_runtime::worker_runtime(worker_settings settings, const config::values& values) {
  // Before any thread exists: every thread inherits the mask, so only wait_for_stop() sees the signals.
  const auto set = stop_signals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  auto cfg = to_worker_config(values);
  if (!cfg)
    throw std::invalid_argument(cfg.error().message);
  state_ = std::make_unique<state>(std::move(settings), std::move(*cfg));
  auto& s = *state_;
  s.log.info("starting",
             {{"queue", s.settings.queue}, {"version", BKR_VERSION}, {"config", values.to_json(true)}});

  s.pool = std::make_unique<storage::connection_pool>(storage::pool_options{
      s.cfg.database_url, s.cfg.pool_size, s.cfg.acquire_timeout, s.cfg.lease, s.producer});
  if (s.cfg.migrate_on_start) {
    auto lease = s.pool->acquire();
    const storage::migration_set sets[] = {storage::storage_migrations(),
                                           messaging::postgres::mq_migrations()};
    const auto applied = storage::migrate(lease.conn(), sets);
    s.log.info("migrations applied", {{"applied", applied}});
  }
  s.notifier = std::make_unique<messaging::postgres::notifier>(s.cfg.database_url, s.log);

  s.ops = std::make_unique<http::ops_listener>(
      http::ops_options{s.cfg.ops_bind, s.cfg.ops_port, s.producer, BKR_VERSION}, s.registry, s.log);
  s.ops->add_readiness_check("postgres", [&s] { return s.database_ok.load(); });
  s.ops->add_readiness_check("consumers", [&s] { return s.consuming.load(); });
  s.ops->add_health_provider("queues", [&s] {
    std::lock_guard lock(s.stats_mutex);
    return s.queues;
  });
  s.ops->add_health_provider("stage", [&s] {
    return nlohmann::json{{"queue", s.settings.queue}, {"consumers", s.cfg.threads}};
  });
  s.ops->add_health_provider("breakers", [&s] { return s.breakers_json(); });
  s.ops->start();
  s.log.info("ops listener started", {{"address", s.cfg.ops_bind}, {"port", s.ops->port()}});
}

worker_runtime::~worker_runtime() {
  if (!state_)
    return;
  // Last things to go: the ops listener (it answered /livez to the end), then the pool.
  if (state_->notifier)
    state_->notifier->stop();
  if (state_->ops)
    state_->ops->stop();
}

const bkr::logger& worker_runtime::log() const {
  return state_->log;
}
metrics::registry& worker_runtime::registry() {
  return state_->registry;
}
storage::connection_pool& worker_runtime::pool() {
  return *state_->pool;
}
const bkr::clock& worker_runtime::clock() const {
  return state_->clock;
}
const std::string& worker_runtime::producer() const {
  return state_->producer;
}
const worker_config& worker_runtime::config() const {
  return state_->cfg;
}
std::uint16_t worker_runtime::ops_port() const {
  return state_->ops->port();
}

circuit_breaker& worker_runtime::add_breaker(std::string name, breaker_options options) {
  auto& s = *state_;
  auto owned = std::make_unique<circuit_breaker>(std::move(name), options, s.clock);
  auto* b = owned.get();
  {
    std::lock_guard lock(s.breakers_mutex);
    s.breakers.push_back(std::move(owned));
  }
  s.ops->add_readiness_check("breaker:" + b->name(), [b] { return b->may_claim(); });
  auto& gauge =
      s.registry
          .add_gauge("bkr_breaker_state", "Circuit breaker state: 0 closed, 1 half-open, 2 open", {"breaker"})
          .with({b->name()});
  gauge.set(breaker_gauge_value(b->state()));
  b->on_state_change([&s, &gauge, log = s.log, name = b->name()](breaker_state st) {
    gauge.set(breaker_gauge_value(st));
    log.warn("circuit breaker changed state", {{"breaker", name}, {"state", to_string(st)}});
    s.poke_gates();
  });
  return *b;
}

void worker_runtime::request_stop() {
  state_->stop_requested = true;
}

int worker_runtime::run(stage& st) {
  auto& s = *state_;
  const auto& queue = s.settings.queue;
  stage_metrics metrics(s.registry, queue);
  stage_handler handler(st, s.log.with({{"queue", queue}}), &metrics);

  // Joined on every way out of run(), also when starting the consumers throws.
  struct stats_poller {
    explicit stats_poller(state& st) : s(st), thread([&st] { st.stats_loop(); }) {}
    ~stats_poller() {
      {
        std::lock_guard lock(s.stats_mutex);
        s.stats_stopping = true;
      }
      s.stats_cv.notify_all();
      thread.join();
    }
    state& s;
    std::thread thread;
  } poller(s);
  s.notifier->start();

  std::vector<std::unique_ptr<messaging::consumer>> consumers;
  // Declared after the consumers, so destroyed before them on every way out: no breaker pokes a gone gate.
  struct gates_guard {
    state& s;
    ~gates_guard() {
      std::lock_guard lock(s.gates_mutex);
      s.gates.clear();
    }
  };
  auto forget_gates = std::unique_ptr<gates_guard>(new gates_guard{s});
  for (std::size_t i = 0; i < s.cfg.threads; ++i) {
    messaging::consumer_options o;
    o.queue = queue;
    o.name = queue + "/" + s.instance + "/" + std::to_string(i);
    o.batch_size = s.cfg.batch_size;
    o.lease = s.cfg.lease;
    o.poll_min = s.cfg.poll_min;
    o.poll_max = s.cfg.poll_max;
    o.retry = s.cfg.retry;
    o.synchronous_commit = s.cfg.synchronous_commit;
    o.log = s.log;
    auto make = [&s, &handler, o] {
      return messaging::postgres::make_consumer(*s.pool, s.cfg.database_url, o, handler, s.notifier.get());
    };
    if (!s.has_breakers()) {
      consumers.push_back(make());
      continue;
    }
    auto gated = std::make_unique<gated_consumer>(
        make, [&s] { return s.all_breakers_allow_claims(); }, claim_gate_options{}, s.log);
    {
      std::lock_guard lock(s.gates_mutex);
      s.gates.push_back(gated.get());
    }
    consumers.push_back(std::move(gated));
  }
  for (auto& c : consumers)
    c->start();
  s.consuming = true;

  std::unique_ptr<recovery_sweeper> sweeper;
  const storage::backup_request_repository requests;
  postgres_pending_messages probe;
  recover_stalled recovery(*s.pool, requests, probe, s.clock, s.producer);
  if (s.cfg.recovery_enabled) {
    sweeper = std::make_unique<recovery_sweeper>(recovery, s.cfg.recovery, s.cfg.recovery_interval, s.log);
    sweeper->start();
  }
  s.log.info("started",
             {{"queue", queue}, {"consumers", s.cfg.threads}, {"recovery", s.cfg.recovery_enabled}});

  s.wait_for_stop();

  // Graceful stop: not ready -> no new input -> drain until the deadline -> hand back the rest -> close.
  s.ops->set_draining(true);
  if (sweeper)
    sweeper->stop();
  {
    std::vector<std::thread> stopping;
    for (auto& c : consumers)
      stopping.emplace_back([&c, deadline = s.cfg.drain_deadline] { c->stop(deadline); });
    for (auto& t : stopping)
      t.join();
  }
  s.consuming = false;
  messaging::consumer_counts total;
  for (const auto& c : consumers) {
    const auto n = c->counts();
    total.processed += n.processed;
    total.retried += n.retried;
    total.dead_lettered += n.dead_lettered;
  }
  forget_gates.reset();
  consumers.clear();
  s.notifier->stop();
  s.log.info(
      "stopped",
      {{"processed", total.processed}, {"retried", total.retried}, {"dead_lettered", total.dead_lettered}});
  return 0;
}

}  // namespace bkr::app
