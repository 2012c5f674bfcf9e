// Worker configuration: defaults, per-worker ops port, rules across keys, --help and --print-config.
#include "bkr/app/worker_config.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace std::chrono_literals;

namespace {

const bkr::app::worker_settings settings{"check-allowed", "backup-request.received", 9082};

bkr::result<bkr::config::values> load(std::map<std::string, std::string, std::less<>> env) {
  const auto keys = bkr::app::worker_config_keys(settings);
  return bkr::config::load(keys, bkr::config::sources{std::move(env), std::nullopt});
}

}  // namespace

TEST_CASE("a worker starts from the database URL alone with documented defaults", "[app][config]") {
  auto values = load({{"BKR_DATABASE_URL", "host=db dbname=bkr"}});
  REQUIRE(values.has_value());
  auto c = bkr::app::to_worker_config(*values);
  REQUIRE(c.has_value());
  CHECK(c->database_url == "host=db dbname=bkr");
  CHECK(c->pool_size == 4);
  CHECK(c->ops_bind == "127.0.0.1");
  CHECK(c->ops_port == 9082);
  CHECK(c->batch_size == 64);
  CHECK(c->threads == 1);
  CHECK_FALSE(c->synchronous_commit);
  CHECK(c->lease == 5s);
  CHECK(c->retry.max_attempts == 10);
  CHECK(c->retry.base == 2s);
  CHECK(c->retry.cap == 5min);
  CHECK(c->drain_deadline == 10s);
  CHECK_FALSE(c->migrate_on_start);
  CHECK(c->recovery_enabled);
  CHECK(c->recovery.older_than == 2min);
  CHECK(c->recovery.limit == 500);
  CHECK(c->log_level == spdlog::level::info);
  CHECK(bkr::app::executable_name(settings) == "bkr-check-allowed");
}

TEST_CASE("the database URL is required and secret", "[app][config]") {
  auto missing = load({});
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message, Catch::Contains("BKR_DATABASE_URL"));
  auto values = load({{"BKR_DATABASE_URL", "postgresql://u:hunter2@db/bkr"}});
  REQUIRE(values.has_value());
  const auto shown = values->to_json(true).dump();
  CHECK(shown.find("hunter2") == std::string::npos);
}

TEST_CASE("values are typed and bounded", "[app][config]") {
  auto values = load({{"BKR_DATABASE_URL", "x"},
                      {"BKR_CONSUMER_THREADS", "3"},
                      {"BKR_DATABASE_POOL_SIZE", "6"},
                      {"BKR_DRAIN_DEADLINE", "250ms"},
                      {"BKR_OPS_PORT", "0"},
                      {"BKR_LOG_LEVEL", "debug"}});
  REQUIRE(values.has_value());
  auto c = bkr::app::to_worker_config(*values);
  REQUIRE(c.has_value());
  CHECK(c->threads == 3);
  CHECK(c->drain_deadline == 250ms);
  CHECK(c->ops_port == 0);
  CHECK(c->log_level == spdlog::level::debug);

  auto bad = load({{"BKR_DATABASE_URL", "x"}, {"BKR_CONSUMER_THREADS", "0"}, {"BKR_LOG_LEVEL", "loud"}});
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error().message, Catch::Contains("BKR_CONSUMER_THREADS"));
  CHECK_THAT(bad.error().message, Catch::Contains("BKR_LOG_LEVEL"));
}

TEST_CASE("the pool must hold the consumers and the stats poller and the sweep", "[app][config]") {
  auto values =
      load({{"BKR_DATABASE_URL", "x"}, {"BKR_CONSUMER_THREADS", "4"}, {"BKR_DATABASE_POOL_SIZE", "5"}});
  REQUIRE(values.has_value());
  auto c = bkr::app::to_worker_config(*values);
  REQUIRE_FALSE(c.has_value());
  CHECK_THAT(c.error().message, Catch::Contains("BKR_DATABASE_POOL_SIZE"));
  CHECK_THAT(c.error().message, Catch::Contains("consumer.threads + 2 = 6"));
}

TEST_CASE("help lists every key and bad arguments exit 2", "[app][config]") {
  std::ostringstream out, err;
  const char* help[] = {"bkr-check-allowed", "--help"};
  auto r = bkr::app::load_worker_config(settings, 2, help, out, err);
  CHECK_FALSE(r.values);
  CHECK(r.exit_code == 0);
  for (const auto& k : bkr::app::worker_config_keys(settings))
    CHECK_THAT(out.str(), Catch::Contains(bkr::config::env_name(k.name)));

  const char* wrong[] = {"bkr-check-allowed", "--verbose"};
  auto w = bkr::app::load_worker_config(settings, 2, wrong, out, err);
  CHECK_FALSE(w.values);
  CHECK(w.exit_code == 2);
  CHECK_THAT(err.str(), Catch::Contains("--verbose"));
}
