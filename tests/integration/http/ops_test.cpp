// The ops listener over loopback: liveness, readiness flipping on checks and draining, health, metrics.
#include "raw_client.hpp"
#include "test_app.hpp"

#include "bkr/http/ops_listener.hpp"

#include <catch2/catch.hpp>

#include <atomic>

using namespace bkr;
using namespace bkr::test;
using namespace std::chrono_literals;

namespace {

http_reply get(std::uint16_t port, const std::string& path) {
  raw_connection c(port);
  REQUIRE(c.send(get_request(path)));
  auto r = c.read_response();
  REQUIRE(r.has_value());
  return *r;
}

struct ops_fixture {
  ops_fixture()
      : ops({.service = "receive-request", .version = "1.2.3"}, registry,
            logger("ops-test", spdlog::level::off)) {
    ops.add_readiness_check("postgres", [this] { return postgres_up.load(); });
    ops.add_health_provider("breakers", [] { return nlohmann::json{{"jobs", "closed"}}; });
    ops.start();
  }
  ~ops_fixture() { ops.stop(); }

  metrics::registry registry;
  std::atomic<bool> postgres_up{true};
  http::ops_listener ops;
};

}  // namespace

TEST_CASE("livez answers while the process runs") {
  ops_fixture f;
  const auto r = get(f.ops.port(), "/livez");
  CHECK(r.status == 200);
  CHECK(r.json()["status"] == "alive");
}

TEST_CASE("readyz flips when a check fails and when draining starts") {
  ops_fixture f;
  CHECK(get(f.ops.port(), "/readyz").status == 200);

  f.postgres_up = false;
  const auto down = get(f.ops.port(), "/readyz");
  CHECK(down.status == 503);
  CHECK(down.header("content-type") == "application/json");
  CHECK(down.json()["code"] == "NotReady");
  CHECK(down.json()["failing"] == nlohmann::json::array({"postgres"}));
  CHECK(down.json()["requestId"] == down.header("x-request-id"));

  f.postgres_up = true;
  CHECK(get(f.ops.port(), "/readyz").status == 200);

  f.ops.set_draining(true);
  const auto draining = get(f.ops.port(), "/readyz");
  CHECK(draining.status == 503);
  CHECK(draining.json()["failing"] == nlohmann::json::array({"draining"}));
  CHECK(draining.json()["draining"] == true);
  CHECK(get(f.ops.port(), "/livez").status == 200);  // alive while draining
}

TEST_CASE("a throwing readiness check counts as failing") {
  ops_fixture f;
  f.ops.add_readiness_check("broken", []() -> bool { throw std::runtime_error("x"); });
  const auto r = get(f.ops.port(), "/readyz");
  CHECK(r.status == 503);
  CHECK(r.json()["failing"] == nlohmann::json::array({"broken"}));
  CHECK(f.ops.failing_checks() == std::vector<std::string>{"broken"});
}

TEST_CASE("healthz reports service, version, uptime, checks and provider sections") {
  ops_fixture f;
  f.postgres_up = false;
  const auto r = get(f.ops.port(), "/healthz");
  CHECK(r.status == 200);
  const auto body = r.json();
  CHECK(body["service"] == "receive-request");
  CHECK(body["version"] == "1.2.3");
  CHECK(body["uptimeSeconds"].is_number());
  CHECK(body["uptimeSeconds"].get<double>() >= 0.0);
  CHECK(body["ready"] == false);
  CHECK(body["checks"]["postgres"] == false);
  CHECK(body["breakers"]["jobs"] == "closed");
}

TEST_CASE("metrics exposes the registry, including request counters of the service's server") {
  metrics::registry registry;
  http::ops_listener ops({}, registry, logger("ops-test", spdlog::level::off));
  ops.start();
  http::router routes;
  routes.add(http::method::get, "/hello", &hello);
  http::server api({.port = 0}, std::move(routes), registry, logger("api-test", spdlog::level::off));
  api.start();
  {
    raw_connection c(api.port());
    for (int i = 0; i < 3; ++i) {
      REQUIRE(c.send(get_request("/hello")));
      REQUIRE(c.read_response().has_value());
    }
  }
  const auto r = get(ops.port(), "/metrics");
  CHECK(r.status == 200);
  CHECK(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  INFO(r.body);
  CHECK(r.body.find("# TYPE bkr_http_requests_total counter") != std::string::npos);
  CHECK(r.body.find("bkr_http_requests_total{route=\"/hello\",method=\"GET\",status=\"200\"} 3\n") !=
        std::string::npos);
  CHECK(r.body.find(
            "bkr_http_request_duration_seconds_bucket{route=\"/hello\",method=\"GET\",le=\"+Inf\"} 3\n") !=
        std::string::npos);
  api.stop(1s);
  ops.stop();
}

TEST_CASE("the ops listener answers unknown paths with JSON 404 and other methods with 405") {
  ops_fixture f;
  const auto nf = get(f.ops.port(), "/nope");
  CHECK(nf.status == 404);
  CHECK(nf.json()["code"] == "NotFound");
  raw_connection c(f.ops.port());
  REQUIRE(c.send("POST /readyz HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n"));
  const auto r = c.read_response();
  REQUIRE(r.has_value());
  CHECK(r->status == 405);
  CHECK(r->header("allow") == "GET");
}
