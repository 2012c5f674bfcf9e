// A server with test routes (echo, params, throwing handlers, an auth pre-handler, a handler held on a gate).
#pragma once

#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/server.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>

#include <atomic>
#include <memory>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>

namespace bkr::test {

/// Holds requests to /slow until released; counts how many are waiting. Shared with the handlers.
struct gate {
  std::atomic<int> entered{0};
  std::atomic<bool> released{false};
};

inline boost::asio::awaitable<http::response> hello(http::request req) {
  co_return http::response::json(200, {{"hello", "world"},
                                       {"remote", req.remote_address},
                                       {"requestId", req.request_id},
                                       {"traceId", std::string(req.trace_id())},
                                       {"query", req.query}});
}

inline boost::asio::awaitable<http::response> echo(http::request req) {
  auto r = http::response::text(200, req.body, std::string(req.headers.get("Content-Type").value_or("")));
  r.headers.set("X-Route", req.route);
  co_return r;
}

inline boost::asio::awaitable<http::response> item(http::request req) {
  co_return http::response::json(200, {{"id", req.params.get("id")}, {"route", req.route}});
}

inline boost::asio::awaitable<http::response> throws(http::request) {
  throw std::runtime_error("secret internal detail: db.internal:5432");
  co_return http::response{};
}

inline boost::asio::awaitable<http::response> infra(http::request) {
  throw bkr::infrastructure_error("pool exhausted at db.internal", true);
  co_return http::response{};
}

inline boost::asio::awaitable<http::response> whoami(http::request req) {
  co_return http::response::json(200, {{"subject", req.principal ? req.principal->subject : ""}});
}

/// The auth hook of the tests: `Bearer good` passes as subject `client-a`, `Bearer other` is forbidden,
/// anything else is unauthorized.
inline boost::asio::awaitable<bkr::result<http::request>> check_token(http::request req) {
  const auto auth = req.headers.get("Authorization");
  if (!auth)
    co_return http::make_error(http::errc::unauthorized, "missing bearer token");
  if (*auth == "Bearer other")
    co_return http::make_error(http::errc::forbidden, "client lacks scope read");
  if (*auth != "Bearer good")
    co_return http::make_error(http::errc::unauthorized, "invalid token");
  req.principal = http::principal{.subject = "client-a", .issuer = "test", .scopes = {"read"}};
  co_return req;
}

inline boost::asio::awaitable<http::response> slow(std::shared_ptr<gate> g, http::request) {
  g->entered.fetch_add(1);
  boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor);
  while (!g->released.load()) {
    timer.expires_after(std::chrono::milliseconds(2));
    co_await timer.async_wait(boost::asio::use_awaitable);
  }
  co_return http::response::json(200, {{"slow", "done"}});
}

inline http::router test_routes(const std::shared_ptr<gate>& g) {
  http::router r;
  r.add(http::method::get, "/hello", &hello);
  r.add(http::method::post, "/echo", &echo, {.json_body = true});
  r.add(http::method::post, "/raw", &echo);
  r.add(http::method::post, "/small", &echo, {.json_body = true, .body_limit = 100});
  r.add(http::method::get, "/items/{id}", &item);
  r.add(http::method::del, "/items/{id}", &item);
  r.add(http::method::get, "/throw", &throws);
  r.add(http::method::get, "/infra", &infra);
  r.add(http::method::get, "/guarded", &whoami, {.before = &check_token});
  r.add(http::method::get, "/slow", std::bind_front(&slow, g));
  return r;
}

/// A running server on an OS-chosen loopback port with the test routes; log lines are kept in `log_text`.
struct test_app {
  explicit test_app(http::server_options options = {}) {
    options.address = "127.0.0.1";
    options.port = 0;
    if (options.threads == 1)
      options.threads = 2;
    auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log_stream);
    server = std::make_unique<http::server>(options, test_routes(slow_gate), registry,
                                            bkr::logger("http-test", spdlog::level::info, sink));
    server->start();
  }
  ~test_app() {
    slow_gate->released = true;
    server->stop(std::chrono::milliseconds(2'000));
  }

  std::uint16_t port() const { return server->port(); }
  std::string log_text() {
    return log_stream.str();  // the sink flushes on warn and above, which is what tests look at
  }

  std::ostringstream log_stream;
  metrics::registry registry;
  std::shared_ptr<gate> slow_gate = std::make_shared<gate>();
  std::unique_ptr<http::server> server;
};

}  // namespace bkr::test
