// /healthz of a worker shows its breakers whether or not it talks to an outside dependency: `postgres`
// always (following the database's reachability), then each breaker the stage registered.
#include "app_fixture.hpp"
#include "bkr/app/create_request.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/http/client.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace bkr;
using namespace bkr::test;

namespace {

config::values worker_values(const app::worker_settings& settings, const std::string& conninfo) {
  auto values =
      config::load(app::worker_config_keys(settings), config::sources{{{"BKR_DATABASE_URL", conninfo},
                                                                       {"BKR_OPS_STATS_INTERVAL", "100ms"},
                                                                       {"BKR_CONSUMER_POLL_MAX", "50ms"},
                                                                       {"BKR_DRAIN_DEADLINE", "2s"},
                                                                       {"BKR_LOG_LEVEL", "warn"}},
                                                                      std::nullopt});
  REQUIRE(values.has_value());
  return *values;
}

nlohmann::json breakers_of(std::uint16_t ops_port) {
  http::blocking_client client;
  auto r = client.get("http://127.0.0.1:" + std::to_string(ops_port) + "/healthz");
  REQUIRE(r.has_value());
  REQUIRE(r->status == 200);
  const auto health = nlohmann::json::parse(r->body);
  REQUIRE(health.contains("breakers"));
  return health.at("breakers");
}

}  // namespace

TEST_CASE("a worker without outside dependencies shows the postgres breaker on /healthz",
          "[app][runtime][health]") {
  app_fixture f;
  const app::worker_settings settings{"create-request", std::string(domain::accepted_message.queue), 0};
  app::worker_runtime runtime(settings, worker_values(settings, f.conninfo()));
  // Before the first statistics poll the database has not been reached: the circuit is not closed yet.
  CHECK(breakers_of(runtime.ops_port()) == nlohmann::json{{"postgres", {{"state", "open"}}}});

  app::create_request stage(f.requests, runtime.clock(), runtime.producer());
  auto running = std::async(std::launch::async, [&] { return runtime.run(stage); });
  CHECK(eventually([&] {
    return breakers_of(runtime.ops_port()) == nlohmann::json{{"postgres", {{"state", "closed"}}}};
  }));

  runtime.request_stop();
  REQUIRE(running.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  CHECK(running.get() == 0);
}

TEST_CASE("a worker's registered breakers appear beside postgres", "[app][runtime][health]") {
  app_fixture f;
  const app::worker_settings settings{"send-to-interface", std::string(domain::allowed_message.queue), 0};
  app::worker_runtime runtime(settings, worker_values(settings, f.conninfo()));
  auto& breaker =
      runtime.add_breaker("backup-interface", app::breaker_options{1, std::chrono::milliseconds{60'000}});
  auto breakers = breakers_of(runtime.ops_port());
  CHECK(breakers.contains("postgres"));
  CHECK(breakers.at("backup-interface").at("state") == "closed");
  breaker.record_failure();
  breakers = breakers_of(runtime.ops_port());
  CHECK(breakers.at("backup-interface").at("state") == "open");
  CHECK(breakers.at("backup-interface").at("consecutiveFailures") == 1);
}
