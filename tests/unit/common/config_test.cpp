// Configuration: precedence env > file > default, validation messages naming the key, masking of secrets.
#include "bkr/common/config.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>

namespace cfg = bkr::config;

namespace {
std::vector<cfg::key> spec() {
  return {
      {.name = "database.url", .required = true, .secret = true, .help = "Postgres connection string"},
      {.name = "http.port",
       .type = cfg::value_type::integer,
       .default_value = "8080",
       .help = "port",
       .min = 1,
       .max = 65535},
      {.name = "log.level",
       .default_value = "info",
       .help = "level",
       .one_of = {"debug", "info", "warn", "error"}},
      {.name = "drain.deadline",
       .type = cfg::value_type::duration,
       .default_value = "10s",
       .help = "drain",
       .min = 0,
       .max = 600000},
      {.name = "metrics.enabled",
       .type = cfg::value_type::boolean,
       .default_value = "true",
       .help = "metrics"},
  };
}

std::string write_file(const std::string& text) {
  auto path =
      std::filesystem::temp_directory_path() / ("bkr-config-test-" + std::to_string(::getpid()) + ".json");
  std::ofstream(path) << text;
  return path.string();
}
}  // namespace

TEST_CASE("env_name maps dotted keys to BKR_ variables") {
  CHECK(cfg::env_name("database.url") == "BKR_DATABASE_URL");
  CHECK(cfg::env_name("group-commit.max_batch") == "BKR_GROUP_COMMIT_MAX_BATCH");
}

TEST_CASE("defaults apply and typed getters convert") {
  const auto s = spec();
  cfg::sources src;
  src.environment["BKR_DATABASE_URL"] = "host=x";
  auto v = cfg::load(s, src);
  REQUIRE(v.has_value());
  CHECK(v->get_string("database.url") == "host=x");
  CHECK(v->get_int("http.port") == 8080);
  CHECK(v->get_duration("drain.deadline") == std::chrono::seconds{10});
  CHECK(v->get_bool("metrics.enabled"));
  CHECK(v->get_string("log.level") == "info");
}

TEST_CASE("environment wins over the file, the file over defaults") {
  const auto s = spec();
  cfg::sources src;
  src.file_path =
      write_file(R"({"database": {"url": "from-file"}, "http.port": 9000, "log": {"level": "warn"}})");
  src.environment["BKR_HTTP_PORT"] = "9100";
  auto v = cfg::load(s, src);
  std::filesystem::remove(*src.file_path);
  REQUIRE(v.has_value());
  CHECK(v->get_string("database.url") == "from-file");
  CHECK(v->get_int("http.port") == 9100);
  CHECK(v->get_string("log.level") == "warn");
}

TEST_CASE("every problem is reported, naming the key and its variable") {
  const auto s = spec();
  cfg::sources src;
  src.environment["BKR_HTTP_PORT"] = "70000";
  src.environment["BKR_LOG_LEVEL"] = "loud";
  src.environment["BKR_DRAIN_DEADLINE"] = "5 parsecs";
  src.environment["BKR_METRICS_ENABLED"] = "maybe";
  auto v = cfg::load(s, src);
  REQUIRE(v.has_error());
  const auto& msg = v.error().message;
  CHECK(v.error().code == cfg::errc::missing);
  CHECK_THAT(msg, Catch::Contains("database.url (BKR_DATABASE_URL) is required but not set"));
  CHECK_THAT(msg, Catch::Contains("http.port (BKR_HTTP_PORT) must be an integer between 1 and 65535"));
  CHECK_THAT(msg, Catch::Contains("log.level (BKR_LOG_LEVEL) must be one of: debug, info, warn, error"));
  CHECK_THAT(msg, Catch::Contains("drain.deadline (BKR_DRAIN_DEADLINE) must be a duration"));
  CHECK_THAT(msg, Catch::Contains("metrics.enabled (BKR_METRICS_ENABLED) must be true or false"));
}

TEST_CASE("durations accept units") {
  const auto s = spec();
  for (auto [text, ms] : std::vector<std::pair<std::string, long long>>{
           {"250ms", 250}, {"5s", 5000}, {"2m", 120000}, {"1500", 1500}}) {
    cfg::sources src;
    src.environment["BKR_DATABASE_URL"] = "x";
    src.environment["BKR_DRAIN_DEADLINE"] = text;
    auto v = cfg::load(s, src);
    REQUIRE(v.has_value());
    CHECK(v->get_duration("drain.deadline").count() == ms);
  }
}

TEST_CASE("unknown keys in the file and unreadable files are errors") {
  const auto s = spec();
  cfg::sources src;
  src.environment["BKR_DATABASE_URL"] = "x";
  src.file_path = write_file(R"({"http": {"prot": 1}})");
  auto v = cfg::load(s, src);
  std::filesystem::remove(*src.file_path);
  REQUIRE(v.has_error());
  CHECK_THAT(v.error().message, Catch::Contains("unknown key 'http.prot'"));

  src.file_path = "/nonexistent/bkr.json";
  auto w = cfg::load(s, src);
  REQUIRE(w.has_error());
  CHECK(w.error().code == cfg::errc::unreadable_file);

  src.file_path = write_file("[1, 2]");
  auto x = cfg::load(s, src);
  std::filesystem::remove(*src.file_path);
  REQUIRE(x.has_error());
  CHECK_THAT(x.error().message, Catch::Contains("is not a JSON object"));
}

TEST_CASE("secrets are masked in the effective configuration and in messages") {
  const auto s = spec();
  cfg::sources src;
  src.environment["BKR_DATABASE_URL"] = "postgresql://u:hunter2@db/x";
  auto v = cfg::load(s, src);
  REQUIRE(v.has_value());
  CHECK(v->to_json()["database.url"] == "***");
  CHECK(v->to_json(false)["database.url"] == "postgresql://u:hunter2@db/x");
  CHECK(v->to_json()["http.port"] == 8080);
  CHECK(v->to_json().dump().find("hunter2") == std::string::npos);

  std::vector<cfg::key> bounded{{.name = "token", .required = true, .secret = true, .help = "t", .min = 32}};
  cfg::sources short_src;
  short_src.environment["BKR_TOKEN"] = "hunter2";
  auto e = cfg::load(bounded, short_src);
  REQUIRE(e.has_error());
  CHECK(e.error().message.find("hunter2") == std::string::npos);
}

TEST_CASE("service arguments") {
  const char* ok[] = {"svc", "--config", "/etc/bkr.json", "--print-config"};
  auto a = cfg::parse_service_args(4, ok);
  REQUIRE(a.has_value());
  CHECK(a->config_file == "/etc/bkr.json");
  CHECK(a->print_config);
  const char* bad[] = {"svc", "--bogus"};
  auto b = cfg::parse_service_args(2, bad);
  REQUIRE(b.has_error());
  CHECK_THAT(b.error().message, Catch::Contains("unknown argument '--bogus'"));
  const char* missing[] = {"svc", "--config"};
  CHECK(cfg::parse_service_args(2, missing).has_error());
}

TEST_CASE("asking for an undeclared key or the wrong type is a programming error") {
  const auto s = spec();
  cfg::sources src;
  src.environment["BKR_DATABASE_URL"] = "x";
  auto v = cfg::load(s, src);
  REQUIRE(v.has_value());
  CHECK_THROWS_AS(v->get_int("nope"), std::logic_error);
  CHECK_THROWS_AS(v->get_int("log.level"), std::logic_error);
}

TEST_CASE("an instance's port is the base plus 100 per instance index, 0 stays any port") {
  CHECK(cfg::instance_port(9082, 0, "ops.port").value() == 9082);
  CHECK(cfg::instance_port(9082, 1, "ops.port").value() == 9182);
  CHECK(cfg::instance_port(9082, 5, "ops.port").value() == 9582);
  CHECK(cfg::instance_port(0, 3, "ops.port").value() == 0);
  CHECK(cfg::instance_port(65435, 1, "ops.port").value() == 65535);
  const auto over = cfg::instance_port(65436, 1, "ops.port");
  REQUIRE_FALSE(over.has_value());
  CHECK_THAT(over.error().message, Catch::Contains("ops.port (BKR_OPS_PORT)") &&
                                       Catch::Contains("BKR_INSTANCE_INDEX") && Catch::Contains("65535"));
}

TEST_CASE("instance_ops_port reads ops.port and instance.index from the loaded values") {
  const std::vector<cfg::key> keys{
      {.name = "ops.port", .type = cfg::value_type::integer, .default_value = "9082"},
      cfg::instance_index_key()};
  const auto at = [&](const char* index) {
    return cfg::instance_ops_port(cfg::load(keys, {.environment = {{"BKR_INSTANCE_INDEX", index}}}).value());
  };
  CHECK(at("0").value() == 9082);
  CHECK(at("2").value() == 9282);
}

TEST_CASE("pm2's NODE_APP_INSTANCE stands for BKR_INSTANCE_INDEX unless that is set") {
  const std::vector<cfg::key> keys{cfg::instance_index_key()};
  ::unsetenv("BKR_INSTANCE_INDEX");
  ::unsetenv("NODE_APP_INSTANCE");
  CHECK(cfg::load(keys, cfg::process_sources()).value().get_int("instance.index") == 0);
  ::setenv("NODE_APP_INSTANCE", "3", 1);
  CHECK(cfg::load(keys, cfg::process_sources()).value().get_int("instance.index") == 3);
  ::setenv("BKR_INSTANCE_INDEX", "1", 1);
  CHECK(cfg::load(keys, cfg::process_sources()).value().get_int("instance.index") == 1);
  ::setenv("BKR_INSTANCE_INDEX", "-1", 1);
  const auto bad = cfg::load(keys, cfg::process_sources());
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error().message, Catch::Contains("BKR_INSTANCE_INDEX"));
  ::unsetenv("BKR_INSTANCE_INDEX");
  ::unsetenv("NODE_APP_INSTANCE");
}
