// The operations listener: liveness, readiness checks, health sections and the metrics text.
#include "bkr/http/ops_listener.hpp"

#include <chrono>

namespace bkr::http {

struct ops_listener::state {
  state(ops_options o, metrics::registry& r) : options(std::move(o)), registry(r) {}

  ops_options options;
  metrics::registry& registry;
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
  std::atomic<bool> draining{false};
  mutable std::mutex mutex;  // guards the two lists; callbacks run outside it
  std::vector<std::pair<std::string, std::shared_ptr<readiness_check>>> checks;
  std::vector<std::pair<std::string, std::shared_ptr<health_provider>>> providers;

  std::vector<std::pair<std::string, bool>> run_checks() const {
    decltype(checks) copy;
    {
      std::lock_guard lock(mutex);
      copy = checks;
    }
    std::vector<std::pair<std::string, bool>> out;
    out.reserve(copy.size());
    for (const auto& [name, check] : copy) {
      bool ok = false;
      try {
        ok = (*check)();
      } catch (...) {
        ok = false;  // a check that throws is a failing check
      }
      out.emplace_back(name, ok);
    }
    return out;
  }

  std::vector<std::string> failing() const {
    std::vector<std::string> out;
    for (const auto& [name, ok] : run_checks())
      if (!ok)
        out.push_back(name);
    if (draining)
      out.emplace_back("draining");
    return out;
  }

  // Handlers: plain coroutines taking the request by value; the state is reached through a shared_ptr
  // bound into the std::function, so no coroutine lambda captures anything.
  static boost::asio::awaitable<response> livez(request) {
    co_return response::json(200, {{"status", "alive"}});
  }

  static boost::asio::awaitable<response> readyz(std::shared_ptr<state> self, request req) {
    auto failing_checks = self->failing();
    if (failing_checks.empty())
      co_return response::json(200, {{"status", "ready"}});
    std::string message = "not ready:";
    for (const auto& f : failing_checks)
      message += " " + f;
    auto r = response::json(503, {{"code", "NotReady"},
                                  {"message", message},
                                  {"requestId", req.request_id},
                                  {"failing", failing_checks},
                                  {"draining", self->draining.load()}});
    co_return r;
  }

  static boost::asio::awaitable<response> healthz(std::shared_ptr<state> self, request) {
    const auto uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - self->started).count();
    nlohmann::json body{{"service", self->options.service},
                        {"version", self->options.version},
                        {"uptimeSeconds", uptime},
                        {"draining", self->draining.load()}};
    auto checks_json = nlohmann::json::object();
    bool ready = !self->draining;
    for (const auto& [name, ok] : self->run_checks()) {
      checks_json[name] = ok;
      ready = ready && ok;
    }
    body["ready"] = ready;
    body["checks"] = std::move(checks_json);
    decltype(self->providers) copy;
    {
      std::lock_guard lock(self->mutex);
      copy = self->providers;
    }
    for (const auto& [section, provider] : copy) {
      try {
        body[section] = (*provider)();
      } catch (...) {
        body[section] = {{"error", "provider failed"}};
      }
    }
    co_return response::json(200, body);
  }

  static boost::asio::awaitable<response> metrics_text(std::shared_ptr<state> self, request) {
    co_return response::text(200, self->registry.expose(), std::string(metrics::exposition_content_type));
  }
};

ops_listener::ops_listener(ops_options options, metrics::registry& registry, bkr::logger log)
    : state_(std::make_shared<state>(std::move(options), registry)) {
  router routes;
  routes.add(method::get, "/livez", &state::livez);
  routes.add(method::get, "/readyz", std::bind_front(&state::readyz, state_));
  routes.add(method::get, "/healthz", std::bind_front(&state::healthz, state_));
  routes.add(method::get, "/metrics", std::bind_front(&state::metrics_text, state_));
  server_options so;
  so.address = state_->options.address;
  so.port = state_->options.port;
  so.threads = 1;
  so.max_connections = 64;
  so.metrics_prefix = "bkr_ops_http";
  so.keep_alive_timeout = std::chrono::seconds(10);
  server_ = std::make_unique<server>(std::move(so), std::move(routes), registry, std::move(log));
}

ops_listener::~ops_listener() = default;

void ops_listener::add_readiness_check(std::string name, readiness_check check) {
  std::lock_guard lock(state_->mutex);
  state_->checks.emplace_back(std::move(name), std::make_shared<readiness_check>(std::move(check)));
}

void ops_listener::add_health_provider(std::string section, health_provider provider) {
  std::lock_guard lock(state_->mutex);
  state_->providers.emplace_back(std::move(section), std::make_shared<health_provider>(std::move(provider)));
}

void ops_listener::set_draining(bool draining) noexcept {
  state_->draining = draining;
}

bool ops_listener::draining() const noexcept {
  return state_->draining.load();
}

std::vector<std::string> ops_listener::failing_checks() const {
  return state_->failing();
}

void ops_listener::start() {
  server_->start();
}

std::uint16_t ops_listener::port() const noexcept {
  return server_->port();
}

void ops_listener::stop(std::chrono::milliseconds drain) {
  server_->stop(drain);
}

}  // namespace bkr::http
