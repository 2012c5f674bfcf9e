// The worker runtime in-process: ops endpoints, a registered breaker, the recovery sweep, stop on request.
#include "bkr/app/worker_runtime.hpp"
#include "app_fixture.hpp"
#include "bkr/app/check_allowed.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/http/client.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

TEST_CASE("the runtime reports a registered breaker and runs the stage and the recovery sweep",
          "[app][runtime]") {
  app_fixture f;
  f.store_job(sample_job());
  const app::worker_settings settings{"check-allowed", std::string(domain::received_message.queue), 0};
  const auto keys = app::worker_config_keys(settings);
  auto values = config::load(keys, config::sources{{{"BKR_DATABASE_URL", f.conninfo()},
                                                    {"BKR_OPS_STATS_INTERVAL", "100ms"},
                                                    {"BKR_CONSUMER_POLL_MAX", "50ms"},
                                                    {"BKR_RECOVERY_INTERVAL", "100ms"},
                                                    {"BKR_RECOVERY_OLDER_THAN", "1m"},
                                                    {"BKR_DRAIN_DEADLINE", "2s"},
                                                    {"BKR_LOG_LEVEL", "warn"}},
                                                   std::nullopt});
  REQUIRE(values.has_value());

  app::worker_runtime runtime(settings, *values);
  auto& breaker = runtime.add_breaker("jobs", app::breaker_options{1, std::chrono::milliseconds{500}});
  app::local_backup_job_service jobs(f.jobs);
  app::check_allowed stage(runtime.pool(), f.requests, jobs, runtime.clock(), runtime.producer());
  auto running = std::async(std::launch::async, [&] { return runtime.run(stage); });

  const auto base = "http://127.0.0.1:" + std::to_string(runtime.ops_port());
  http::blocking_client client;
  auto get = [&](const std::string& path) {
    auto r = client.get(base + path);
    REQUIRE(r.has_value());
    return *r;
  };
  REQUIRE(eventually([&] { return get("/readyz").status == 200; }));
  CHECK(nlohmann::json::parse(get("/healthz").body)["breakers"]["jobs"]["state"] == "closed");

  breaker.record_failure();
  const auto not_ready = get("/readyz");
  CHECK(not_ready.status == 503);
  CHECK_THAT(not_ready.body, Catch::Contains("breaker:jobs"));
  CHECK(eventually([&] {
    return get("/metrics").body.find("bkr_breaker_state{breaker=\"jobs\"} 2") != std::string::npos;
  }));

  // Work published meanwhile is done once the circuit lets a probe through.
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::received));
  f.publish(received_message(id));
  CHECK(eventually([&] { return f.request(id)->status_type_code == request_status::allowed; }));
  breaker.record_success();
  CHECK(eventually([&] { return get("/readyz").status == 200; }));

  // A request stuck in Received without a message is found by the sweep and moves on.
  auto stalled = sample_request(new_uuid_v7(), request_status::received);
  stalled.received_timestamp = *stalled.received_timestamp - std::chrono::minutes{5};
  f.store_request(stalled);
  CHECK(eventually(
      [&] { return f.request(stalled.backup_request_id)->status_type_code == request_status::allowed; }));

  runtime.request_stop();
  REQUIRE(running.wait_for(std::chrono::seconds{10}) == std::future_status::ready);
  CHECK(running.get() == 0);
  CHECK(f.dead_letters(std::string(domain::received_message.queue)).empty());
}
