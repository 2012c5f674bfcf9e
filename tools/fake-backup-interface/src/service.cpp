// The fake backup interface's object graph: built in dependency order, started, and stopped in reverse.
#include "bkr/fake_backup_interface/service.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/fake_backup_interface/handlers.hpp"
#include "bkr/http/ops_listener.hpp"
#include "bkr/http/server.hpp"
#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/thread_pool.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <array>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>
#include <type_traits>

#ifndef BKR_VERSION
#define BKR_VERSION "0.0.0"
#endif

namespace bkr::fake_backup_interface {
namespace {

using blocking_executor = boost::asio::thread_pool::executor_type;

template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> call_blocking(Fn fn) {
  co_return fn();
}

/// Runs `fn()` on `pool` and resumes the caller on its own executor with the result or the exception.
/// `fn` may capture the caller's frame by reference: the caller stays suspended until it returns.
template <class Fn>
boost::asio::awaitable<std::invoke_result_t<Fn&>> run_blocking(blocking_executor pool, Fn fn) {
  co_return co_await boost::asio::co_spawn(pool, call_blocking(std::move(fn)), boost::asio::use_awaitable);
}

bool is_printable_ascii(std::string_view text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

struct service::state {
  state(settings s, bkr::logger l, const bkr::clock& c)
      : cfg(std::move(s)), log(std::move(l)), clock(c), metrics(registry), instance(new_uuid_v7()) {}

  settings cfg;
  bkr::logger log;
  const bkr::clock& clock;
  metrics::registry registry;
  interface_metrics metrics;
  std::string instance;  // names this process's consumers (lease owner, counter rows)

  std::unique_ptr<storage::connection_pool> pool;
  std::unique_ptr<http::ops_listener> ops;
  std::unique_ptr<messaging::postgres::notifier> notifier;
  std::unique_ptr<store_request_handler> handler;
  std::unique_ptr<reply_poster> poster;
  std::vector<std::unique_ptr<messaging::consumer>> consumers;
  std::unique_ptr<boost::asio::thread_pool> blocking;  // the intake's database work, off the I/O threads
  std::unique_ptr<http::server> intake;

  std::atomic<bool> consuming{false};
  std::atomic<bool> database_ok{false};
  bool started = false;
  bool stopped = false;

  // Readiness probe of the database (the ops checks must not block, so they read its last verdict).
  std::thread probe;
  std::mutex probe_mutex;
  std::condition_variable probe_cv;
  bool probe_stopping = false;

  void probe_database() {
    try {
      auto lease = pool->acquire();
      pqxx::nontransaction tx(lease.conn());
      tx.exec("SELECT 1");
      if (!database_ok.exchange(true))
        log.info("database reachable");
    } catch (const std::exception& e) {
      if (database_ok.exchange(false))
        log.error("database unreachable", {{"error", e.what()}});
    }
  }

  void probe_loop() {
    for (;;) {
      probe_database();
      std::unique_lock lock(probe_mutex);
      if (probe_cv.wait_for(lock, std::chrono::seconds{1}, [this] { return probe_stopping; }))
        return;
    }
  }

  std::vector<std::string> queues() const {
    std::vector<std::string> out;
    for (const auto p : cfg.providers)
      out.push_back(domain::store_request_queue(p));
    return out;
  }
};

namespace {

/// POST /store-requests: validates, then publishes on the provider's store-request queue (de-duplicated by
/// backupRequestId); the consumers answer it like any other store request.
boost::asio::awaitable<http::response> post_store_request(service::state* s, http::request req) {
  auto& intake = s->metrics.intake;
  const auto key = req.headers.get("Idempotency-Key");
  if (!key || key->empty() || key->size() > 128 || !is_printable_ascii(*key)) {
    intake.with({"rejected"}).inc();
    co_return http::error_response(http::errc::bad_request,
                                   "Idempotency-Key (the backupRequestId) is required", req.request_id);
  }
  auto request = domain::parse_store_request(nlohmann::json::parse(req.body, nullptr, false));
  if (!request) {
    intake.with({"rejected"}).inc();
    co_return http::error_response(request.error(), req.request_id);
  }
  if (*key != request->backup_request_id) {
    intake.with({"rejected"}).inc();
    co_return http::error_response(http::errc::bad_request, "Idempotency-Key must equal backupRequestId",
                                   req.request_id);
  }
  const auto& providers = s->cfg.providers;
  if (std::find(providers.begin(), providers.end(), request->backup_provider_code) == providers.end()) {
    intake.with({"rejected"}).inc();
    co_return http::error_response(http::errc::bad_request,
                                   "backupProviderCode " +
                                       std::string(domain::to_string(request->backup_provider_code)) +
                                       " is not served here (fake.providers)",
                                   req.request_id);
  }

  const auto queue = domain::store_request_queue(request->backup_provider_code);
  messaging::outgoing_message message{queue, store_request_envelope(*request, std::string(service_name),
                                                                    std::string(req.trace_id()), s->clock)};
  const std::size_t inserted = co_await run_blocking(s->blocking->get_executor(), [s, &message] {
    return storage::with_database_errors([&] {
      storage::unit_of_work uow(*s->pool);
      // The log does not de-duplicate: a repeat is recognised while the first one still waits (the
      // transaction lock on the id orders concurrent repeats); after that ReceiveStatus ignores a second
      // reply of the same request.
      const std::array keys{message.message.key};
      uow.tx().exec_params("SELECT pg_advisory_xact_lock(hashtext($1))", keys[0]);
      if (!messaging::postgres::pending_keys(uow, message.queue, keys).empty())
        return std::size_t{0};
      messaging::postgres::log_publisher out(uow);
      out.publish(std::move(message));
      uow.commit();
      return out.appended();
    });
  });
  const bool duplicate = inserted == 0;
  intake.with({duplicate ? "duplicate" : "accepted"}).inc();
  s->log.debug("store request taken in over HTTP", {{"backupRequestId", request->backup_request_id},
                                                    {"trace_id", std::string(req.trace_id())},
                                                    {"queue", queue},
                                                    {"duplicate", duplicate}});
  co_return http::response::json(
      202, {{"backupRequestId", request->backup_request_id}, {"queue", queue}, {"duplicate", duplicate}});
}

}  // namespace

service::service(settings s, bkr::logger log, const bkr::clock& clock)
    : state_(std::make_unique<state>(std::move(s), std::move(log), clock)) {}

service::~service() {
  try {
    stop();
  } catch (const std::exception& e) {
    state_->log.error("stop failed", {{"error", e.what()}});
  }
}

void service::start() {
  auto& s = *state_;
  if (s.started)
    throw std::logic_error("fake backup interface started twice");
  s.started = true;
  const auto& cfg = s.cfg;

  s.pool = std::make_unique<storage::connection_pool>(storage::pool_options{
      cfg.database_url, cfg.pool_size, std::chrono::seconds{5}, cfg.lease, std::string(service_name)});

  s.ops = std::make_unique<http::ops_listener>(
      http::ops_options{cfg.ops_bind, cfg.ops_port, std::string(service_name), BKR_VERSION}, s.registry,
      s.log);
  s.ops->add_readiness_check("postgres", [&s] { return s.database_ok.load(); });
  s.ops->add_readiness_check("consumers", [&s] { return s.consuming.load(); });
  s.ops->add_health_provider("fake", [&s] {
    nlohmann::json consumers = nlohmann::json::array();
    for (const auto& q : s.queues())
      consumers.push_back(q);
    return nlohmann::json{{"queues", consumers},
                          {"replyTransport", to_string(s.cfg.transport)},
                          {"replyDelayMs", s.cfg.rules.reply_delay.count()},
                          {"failureRatio", s.cfg.rules.failure_ratio},
                          {"failureMode", to_string(s.cfg.rules.mode)},
                          {"failMarker", s.cfg.rules.fail_marker},
                          {"httpIntake", s.cfg.http_enabled}};
  });
  s.ops->start();
  s.log.info("ops listener started", {{"address", cfg.ops_bind}, {"port", s.ops->port()}});

  s.probe_database();
  s.probe = std::thread([&s] { s.probe_loop(); });

  s.notifier = std::make_unique<messaging::postgres::notifier>(cfg.database_url, s.log);
  s.notifier->start();

  s.handler = std::make_unique<store_request_handler>(cfg, s.clock, s.metrics, s.log);
  auto options_for = [&s](std::string queue) {
    messaging::consumer_options o;
    o.name = queue + "/" + s.instance;
    o.queue = std::move(queue);
    o.batch_size = s.cfg.batch_size;
    o.lease = s.cfg.lease;
    o.poll_max = std::max(s.cfg.poll_max, o.poll_min);
    // Like the workers: an answer undone by a database crash is given again, and a synchronous commit would
    // hold the cluster's notification lock through the WAL flush, delaying every other publisher.
    o.synchronous_commit = false;
    o.log = s.log.with({{"queue", o.queue}});
    return o;
  };
  for (const auto& queue : s.queues())
    s.consumers.push_back(messaging::postgres::make_consumer(*s.pool, cfg.database_url, options_for(queue),
                                                             *s.handler, s.notifier.get()));
  if (cfg.transport == reply_transport::http) {
    s.poster = std::make_unique<reply_poster>(cfg.replies_endpoint(), cfg.reply_token, cfg.reply_timeout,
                                              s.metrics, s.log.with({{"queue", reply_outbox_queue}}));
    auto o = options_for(std::string(reply_outbox_queue));
    o.retry = cfg.reply_retry;
    // The POSTs run in prepare(), while the batch is in hand: the lease (the bound on a silent batch
    // transaction) must outlast the slowest of them.
    o.lease = std::max(cfg.lease, cfg.reply_timeout + std::chrono::seconds{3});
    s.consumers.push_back(messaging::postgres::make_consumer(*s.pool, cfg.database_url, std::move(o),
                                                             *s.poster, s.notifier.get()));
  }
  for (auto& c : s.consumers)
    c->start();
  s.consuming = true;

  if (cfg.http_enabled) {
    s.blocking = std::make_unique<boost::asio::thread_pool>(2);
    http::router routes;
    routes.add(http::method::post, "/store-requests", std::bind_front(&post_store_request, &s),
               {.json_body = true});
    s.intake =
        std::make_unique<http::server>(http::server_options{.address = cfg.http_bind,
                                                            .port = cfg.http_port,
                                                            .threads = 1,
                                                            .metrics_prefix = "bkr_fake_interface_http"},
                                       std::move(routes), s.registry, s.log);
    s.intake->start();
    s.log.info("http intake started", {{"address", cfg.http_bind}, {"port", s.intake->port()}});
  }
}

void service::stop() {
  auto& s = *state_;
  if (!s.started || s.stopped)
    return;
  s.stopped = true;
  const auto deadline = s.cfg.drain_deadline;
  if (s.ops)
    s.ops->set_draining(true);
  if (s.intake)
    s.intake->stop(deadline);
  {
    std::vector<std::thread> stopping;
    for (auto& c : s.consumers)
      stopping.emplace_back([&c, deadline] { c->stop(deadline); });
    for (auto& t : stopping)
      t.join();
  }
  s.consuming = false;
  messaging::consumer_counts total;
  for (const auto& c : s.consumers) {
    const auto n = c->counts();
    total.processed += n.processed;
    total.retried += n.retried;
    total.dead_lettered += n.dead_lettered;
  }
  s.consumers.clear();
  s.poster.reset();
  if (s.notifier)
    s.notifier->stop();
  if (s.blocking)
    s.blocking->join();
  if (s.probe.joinable()) {
    {
      std::lock_guard lock(s.probe_mutex);
      s.probe_stopping = true;
    }
    s.probe_cv.notify_all();
    s.probe.join();
  }
  if (s.ops)
    s.ops->stop();
  s.log.info(
      "stopped",
      {{"processed", total.processed}, {"retried", total.retried}, {"dead_lettered", total.dead_lettered}});
}

std::uint16_t service::http_port() const {
  return state_->intake ? state_->intake->port() : 0;
}

std::uint16_t service::ops_port() const {
  return state_->ops ? state_->ops->port() : 0;
}

metrics::registry& service::registry() {
  return state_->registry;
}

const settings& service::config() const {
  return state_->cfg;
}

}  // namespace bkr::fake_backup_interface
