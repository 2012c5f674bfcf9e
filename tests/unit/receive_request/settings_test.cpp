// Configuration of bkr-receive-request: defaults, validation, secrets masked, connection string timeouts.
#include "bkr/receive_request/settings.hpp"

#include <catch2/catch.hpp>

namespace rr = bkr::receive_request;

namespace {

bkr::config::sources env(std::map<std::string, std::string, std::less<>> vars) {
  bkr::config::sources s;
  s.environment = std::move(vars);
  return s;
}

std::map<std::string, std::string, std::less<>> minimal() {
  return {{"BKR_DATABASE_URL", "host=127.0.0.1 password=hunter2"},
          {"BKR_AUTH_ALGORITHMS", "HS256"},
          {"BKR_AUTH_HS256_SECRET", "0123456789abcdef0123456789abcdef"}};
}

}  // namespace

TEST_CASE("defaults are the documented ones", "[receive_request][settings]") {
  const auto values = bkr::config::load(rr::config_keys(), env(minimal()));
  REQUIRE(values.has_value());
  const auto s = rr::settings_from(*values);
  REQUIRE(s.has_value());
  CHECK(s->http_bind == "127.0.0.1");
  CHECK(s->http_port == 8080);
  CHECK(s->body_limit == 16384);
  CHECK(s->ops_bind == "127.0.0.1");
  CHECK(s->ops_port == 9080);
  CHECK(s->pool_size == 8);
  CHECK(s->group_commit.max_batch == 512);
  CHECK(s->group_commit.max_pending == 8192);
  CHECK(s->group_commit.timeout == std::chrono::seconds{2});
  CHECK(s->group_commit.writers == 2);
  CHECK(s->drain_deadline == std::chrono::seconds{10});
  CHECK_FALSE(s->migrate_on_start);
  CHECK(s->log_level == spdlog::level::info);
  CHECK(s->auth.scopes.ttl == std::chrono::seconds{30});
}

TEST_CASE("bad values are refused naming the key and its variable", "[receive_request][settings]") {
  struct bad {
    std::string var;
    std::string value;
  };
  for (const auto& b : std::vector<bad>{{"BKR_HTTP_PORT", "70000"},
                                        {"BKR_LOG_LEVEL", "loud"},
                                        {"BKR_GROUP_COMMIT_MAX_BATCH", "0"},
                                        {"BKR_GROUP_COMMIT_TIMEOUT", "soon"},
                                        {"BKR_MIGRATE_ON_START", "maybe"},
                                        {"BKR_HTTP_BODY_LIMIT", "-1"}}) {
    INFO(b.var << "=" << b.value);
    auto vars = minimal();
    vars[b.var] = b.value;
    const auto values = bkr::config::load(rr::config_keys(), env(vars));
    REQUIRE_FALSE(values.has_value());
    CHECK_THAT(values.error().message, Catch::Contains(b.var));
  }
  auto no_url = minimal();
  no_url.erase("BKR_DATABASE_URL");
  const auto missing = bkr::config::load(rr::config_keys(), env(no_url));
  REQUIRE_FALSE(missing.has_value());
  CHECK_THAT(missing.error().message, Catch::Contains("BKR_DATABASE_URL"));
}

TEST_CASE("inconsistent settings are refused", "[receive_request][settings]") {
  auto small_pool = minimal();
  small_pool["BKR_DATABASE_POOL_SIZE"] = std::string("2");
  small_pool["BKR_GROUP_COMMIT_WRITERS"] = std::string("2");
  auto s = rr::settings_from(*bkr::config::load(rr::config_keys(), env(small_pool)));
  REQUIRE_FALSE(s.has_value());
  CHECK_THAT(s.error().message, Catch::Contains("database.pool_size"));

  auto same_port = minimal();
  same_port["BKR_HTTP_PORT"] = std::string("9000");
  same_port["BKR_OPS_PORT"] = std::string("9000");
  CHECK_FALSE(rr::settings_from(*bkr::config::load(rr::config_keys(), env(same_port))).has_value());

  // RS256 needs a key set; HS256 needs the secret.
  auto no_keys = minimal();
  no_keys["BKR_AUTH_ALGORITHMS"] = std::string("RS256");
  CHECK_FALSE(rr::settings_from(*bkr::config::load(rr::config_keys(), env(no_keys))).has_value());
  auto no_secret = minimal();
  no_secret.erase("BKR_AUTH_HS256_SECRET");
  CHECK_FALSE(rr::settings_from(*bkr::config::load(rr::config_keys(), env(no_secret))).has_value());
}

TEST_CASE("the printed configuration masks the database URL and the HS256 secret",
          "[receive_request][settings]") {
  const auto values = bkr::config::load(rr::config_keys(), env(minimal()));
  REQUIRE(values.has_value());
  const auto printed = values->to_json(true);
  CHECK(printed.at("database.url") == "***");
  CHECK(printed.at("auth.hs256_secret") == "***");
  CHECK(printed.dump().find("hunter2") == std::string::npos);
  CHECK(printed.at("http.port") == 8080);
  // Every key is documented in the spec (and in the service README).
  for (const auto& k : rr::config_keys())
    CHECK_FALSE(k.help.empty());
}

TEST_CASE("connection strings get a connect timeout unless they name one", "[receive_request][settings]") {
  using std::chrono::milliseconds;
  CHECK(rr::with_connect_timeout("host=h dbname=d", milliseconds{3000}) ==
        "host=h dbname=d connect_timeout=3");
  CHECK(rr::with_connect_timeout("postgres://u@h/d", milliseconds{2500}) ==
        "postgres://u@h/d?connect_timeout=3");
  CHECK(rr::with_connect_timeout("postgresql://h/d?sslmode=disable", milliseconds{1000}) ==
        "postgresql://h/d?sslmode=disable&connect_timeout=2");
  CHECK(rr::with_connect_timeout("host=h connect_timeout=9", milliseconds{3000}) ==
        "host=h connect_timeout=9");
}
