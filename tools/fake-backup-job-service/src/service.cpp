// The fake job service's listeners and handlers: the job API with its fault switches, and the ops listener.
#include "bkr/fake_backup_job_service/service.hpp"

#include "bkr/domain/json.hpp"
#include "bkr/fake_backup_job_service/catalog.hpp"
#include "bkr/http/ops_listener.hpp"
#include "bkr/http/server.hpp"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#ifndef BKR_VERSION
#define BKR_VERSION "0.0.0"
#endif

namespace bkr::fake_backup_job_service {

struct service::state {
  state(settings s, bkr::logger l, const bkr::clock& c)
      : cfg(std::move(s)),
        log(std::move(l)),
        clock(c),
        catalog(cfg.jobs),
        faults(cfg.faults, c),
        answers(registry.add_counter("bkr_fake_jobs_answers_total",
                                     "Answers of GET /backup-jobs/{id}, by result (found, not_found, "
                                     "injected_error, outage)",
                                     {"result"})) {}

  settings cfg;
  bkr::logger log;
  const bkr::clock& clock;
  metrics::registry registry;
  job_catalog catalog;
  fault_injector faults;
  metrics::counter_family& answers;
  std::unique_ptr<http::ops_listener> ops;

  // The job API listener; replaced by a new one after a refuse outage, on the same port.
  std::mutex api_mutex;
  std::unique_ptr<http::server> api;
  std::atomic<std::uint16_t> port{0};
  std::atomic<bool> listening{false};

  // The thread that closes and reopens the job API for refuse outages (a handler cannot stop its own server).
  std::thread controller;
  std::mutex controller_mutex;
  std::condition_variable controller_cv;
  bool controller_stopping = false;
  bool refuse_requested = false;

  bool started = false;
  bool stopped = false;

  void open_api(const std::shared_ptr<state>& self);
  void close_api(std::chrono::milliseconds drain);
  void controller_loop(const std::shared_ptr<state>& self);
};

namespace {

using state_ptr = std::shared_ptr<service::state>;

http::response bad_request(const http::request& req, std::string message) {
  return http::error_response(http::errc::bad_request, std::move(message), req.request_id);
}

boost::asio::awaitable<http::response> get_job(state_ptr s, http::request req) {
  const auto decided = s->faults.next();
  if (const auto latency = s->faults.settings().latency; latency.count() > 0) {
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, latency);
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  if (decided == verdict::outage) {
    s->answers.with({"outage"}).inc();
    const auto o = s->faults.current_outage();
    const auto remaining = o ? std::chrono::ceil<std::chrono::seconds>(o->until - s->clock.now()).count() : 1;
    auto r = http::error_response(http::errc::unavailable, "", req.request_id);
    r.body = http::error_body("Unavailable", "the backup job service is in an outage", req.request_id);
    r.headers.set("Retry-After", std::to_string(std::max<long long>(1, remaining)));
    co_return r;
  }
  if (decided == verdict::injected_error) {
    s->answers.with({"injected_error"}).inc();
    auto r = http::response::text(
        500, http::error_body("InjectedFailure", "injected failure (fake.error_ratio)", req.request_id),
        "application/json");
    co_return r;
  }
  const auto id = req.params.get("id");
  if (const auto* job = s->catalog.find(id)) {
    s->answers.with({"found"}).inc();
    co_return http::response::json(200, *job);
  }
  s->answers.with({"not_found"}).inc();
  co_return http::error_response(http::errc::not_found, "no backup job " + std::string(id), req.request_id);
}

boost::asio::awaitable<http::response> post_outage(state_ptr s, http::request req) {
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object())
    co_return bad_request(
        req, "body must be a JSON object {\"seconds\": N, \"mode\": \"unavailable\"|\"refuse\"}");
  const auto seconds = body.find("seconds");
  if (seconds == body.end() || !seconds->is_number() || seconds->get<double>() <= 0 ||
      seconds->get<double>() > 86400)
    co_return bad_request(req, "seconds must be a number in (0, 86400]");
  auto mode = outage_mode::unavailable;
  if (const auto m = body.find("mode"); m != body.end() && !m->is_null()) {
    const auto parsed = m->is_string() ? parse_outage_mode(m->get<std::string>()) : std::nullopt;
    if (!parsed)
      co_return bad_request(req, "mode must be \"unavailable\" or \"refuse\"");
    mode = *parsed;
  }
  const auto length = std::chrono::milliseconds{static_cast<long long>(seconds->get<double>() * 1000.0)};
  s->faults.start_outage(mode, length);
  s->log.warn("outage started", {{"mode", to_string(mode)}, {"ms", length.count()}});
  if (mode == outage_mode::refuse) {
    {
      std::lock_guard lock(s->controller_mutex);
      s->refuse_requested = true;
    }
    s->controller_cv.notify_all();
  }
  co_return http::response::json(202, s->faults.to_json());
}

boost::asio::awaitable<http::response> get_outage(state_ptr s, http::request) {
  co_return http::response::json(200, {{"outage", s->faults.to_json()["outage"]}});
}

boost::asio::awaitable<http::response> delete_outage(state_ptr s, http::request) {
  s->faults.end_outage();
  s->log.warn("outage ended early");
  co_return http::response::json(200, {{"outage", nullptr}});
}

boost::asio::awaitable<http::response> get_faults(state_ptr s, http::request) {
  co_return http::response::json(200, s->faults.to_json());
}

boost::asio::awaitable<http::response> put_faults(state_ptr s, http::request req) {
  const auto body = nlohmann::json::parse(req.body, nullptr, false);
  if (!body.is_object())
    co_return bad_request(req, "body must be a JSON object {\"latencyMs\": n, \"errorRatio\": x}");
  auto f = s->faults.settings();
  if (const auto l = body.find("latencyMs"); l != body.end()) {
    if (!l->is_number_integer() || l->get<long long>() < 0 || l->get<long long>() > 600'000)
      co_return bad_request(req, "latencyMs must be an integer in [0, 600000]");
    f.latency = std::chrono::milliseconds{l->get<long long>()};
  }
  if (const auto e = body.find("errorRatio"); e != body.end()) {
    if (!e->is_number() || e->get<double>() < 0.0 || e->get<double>() > 1.0)
      co_return bad_request(req, "errorRatio must be a number in [0, 1]");
    f.error_ratio = e->get<double>();
  }
  s->faults.set(f);
  s->log.warn("faults changed", {{"latencyMs", f.latency.count()}, {"errorRatio", f.error_ratio}});
  co_return http::response::json(200, s->faults.to_json());
}

http::router make_routes(const state_ptr& s) {
  http::router routes;
  routes.add(http::method::get, "/backup-jobs/{id}", std::bind_front(&get_job, s));
  routes.add(http::method::post, "/admin/outage", std::bind_front(&post_outage, s), {.json_body = true});
  routes.add(http::method::get, "/admin/outage", std::bind_front(&get_outage, s));
  routes.add(http::method::del, "/admin/outage", std::bind_front(&delete_outage, s));
  routes.add(http::method::get, "/admin/faults", std::bind_front(&get_faults, s));
  routes.add(http::method::put, "/admin/faults", std::bind_front(&put_faults, s), {.json_body = true});
  return routes;
}

}  // namespace

void service::state::open_api(const std::shared_ptr<state>& self) {
  const auto wanted = port.load() != 0 ? port.load() : cfg.http_port;
  auto server = std::make_unique<http::server>(http::server_options{.address = cfg.http_bind,
                                                                    .port = wanted,
                                                                    .threads = cfg.http_threads,
                                                                    .metrics_prefix = "bkr_fake_jobs_http"},
                                               make_routes(self), registry, log);
  server->start();
  port = server->port();
  std::lock_guard lock(api_mutex);
  api = std::move(server);
  listening = true;
}

void service::state::close_api(std::chrono::milliseconds drain) {
  std::unique_ptr<http::server> server;
  {
    std::lock_guard lock(api_mutex);
    server = std::move(api);
    listening = false;
  }
  if (server)
    server->stop(drain);
}

void service::state::controller_loop(const std::shared_ptr<state>& self) {
  std::unique_lock lock(controller_mutex);
  for (;;) {
    controller_cv.wait(lock, [this] { return controller_stopping || refuse_requested; });
    if (controller_stopping)
      return;
    refuse_requested = false;
    lock.unlock();
    // Lets the 202 of the admin request that asked for it go out before the socket closes.
    close_api(std::chrono::milliseconds{1000});
    log.warn("job API closed for a refuse outage");
    lock.lock();
    for (;;) {
      const auto o = faults.current_outage();
      if (controller_stopping || !o || o->mode != outage_mode::refuse)
        break;
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(o->until - clock.now());
      controller_cv.wait_for(lock,
                             std::clamp(left, std::chrono::milliseconds{1}, std::chrono::milliseconds{50}));
    }
    if (controller_stopping)
      return;
    lock.unlock();
    // The old socket may linger briefly; keep trying the same port until it binds or we stop.
    for (;;) {
      try {
        open_api(self);
        log.warn("job API reopened", {{"port", port.load()}});
        break;
      } catch (const std::exception& e) {
        log.error("job API cannot reopen yet", {{"error", e.what()}});
      }
      std::unique_lock wait(controller_mutex);
      if (controller_cv.wait_for(wait, std::chrono::milliseconds{100},
                                 [this] { return controller_stopping; }))
        return;
    }
    lock.lock();
  }
}

service::service(settings s, bkr::logger log, const bkr::clock& clock)
    : state_(std::make_shared<state>(std::move(s), std::move(log), clock)) {}

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
    throw std::logic_error("fake backup job service started twice");
  s.started = true;
  s.ops = std::make_unique<http::ops_listener>(
      http::ops_options{s.cfg.ops_bind, s.cfg.ops_port, std::string(service_name), BKR_VERSION}, s.registry,
      s.log);
  s.ops->add_readiness_check("api", [&s] { return s.listening.load(); });
  s.ops->add_health_provider("faults", [&s] { return s.faults.to_json(); });
  s.ops->add_health_provider("jobs", [&s] {
    return nlohmann::json{{"count", s.catalog.size()},
                          {"source", s.cfg.jobs_file.empty() ? "demo" : s.cfg.jobs_file}};
  });
  s.ops->start();
  s.log.info("ops listener started", {{"address", s.cfg.ops_bind}, {"port", s.ops->port()}});
  s.open_api(state_);
  s.log.info("job API started",
             {{"address", s.cfg.http_bind}, {"port", s.port.load()}, {"jobs", s.catalog.size()}});
  s.controller = std::thread([self = state_] { self->controller_loop(self); });
}

void service::stop() {
  auto& s = *state_;
  if (!s.started || s.stopped)
    return;
  s.stopped = true;
  if (s.ops)
    s.ops->set_draining(true);
  if (s.controller.joinable()) {
    {
      std::lock_guard lock(s.controller_mutex);
      s.controller_stopping = true;
    }
    s.controller_cv.notify_all();
    s.controller.join();
  }
  s.close_api(s.cfg.drain_deadline);
  if (s.ops)
    s.ops->stop();
  s.log.info("stopped");
}

std::uint16_t service::port() const {
  return state_->port.load();
}

std::uint16_t service::ops_port() const {
  return state_->ops ? state_->ops->port() : 0;
}

fault_injector& service::faults() {
  return state_->faults;
}

metrics::registry& service::registry() {
  return state_->registry;
}

}  // namespace bkr::fake_backup_job_service
