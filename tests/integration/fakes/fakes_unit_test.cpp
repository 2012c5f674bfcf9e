// The pure parts of the fakes: failure decisions, replies, configuration, jobs files and fault injection.
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/fake_backup_interface/behaviour.hpp"
#include "bkr/fake_backup_interface/handlers.hpp"
#include "bkr/fake_backup_interface/settings.hpp"
#include "bkr/fake_backup_job_service/catalog.hpp"
#include "bkr/fake_backup_job_service/faults.hpp"
#include "bkr/fake_backup_job_service/settings.hpp"
#include "fakes_support.hpp"

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>

using namespace bkr;
using namespace bkr::test;
namespace fbi = bkr::fake_backup_interface;
namespace fjs = bkr::fake_backup_job_service;

namespace {

config::sources env(std::map<std::string, std::string, std::less<>> vars) {
  config::sources s;
  s.environment = std::move(vars);
  return s;
}

template <class Settings, class Load>
std::pair<std::optional<Settings>, std::string> load_with(Load load, config::sources src,
                                                          std::vector<std::string> args = {}) {
  std::vector<const char*> argv{"fake"};
  for (const auto& a : args)
    argv.push_back(a.c_str());
  std::ostringstream out, err;
  auto r = load(static_cast<int>(argv.size()), argv.data(), src, out, err);
  return {std::move(r.value), out.str() + err.str()};
}

}  // namespace

TEST_CASE("the failure hash is FNV-1a and spreads ids over the unit interval", "[fakes][interface]") {
  CHECK(fbi::fnv1a_64("") == 0xcbf29ce484222325ULL);
  CHECK(fbi::fnv1a_64("a") == 0xaf63dc4c8601ec8cULL);
  CHECK(fbi::fnv1a_64("foobar") == 0x85944171f73967e8ULL);
  int below_half = 0;
  for (int i = 0; i < 1000; ++i) {
    const double u = fbi::request_hash_unit("req-" + std::to_string(i));
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    below_half += u < 0.5 ? 1 : 0;
  }
  CHECK(below_half > 400);
  CHECK(below_half < 600);
}

TEST_CASE("a store request fails by marker first, then by the ratio", "[fakes][interface]") {
  fbi::reply_rules rules;
  auto r = sample_store_request("req-1");
  rules.failure_ratio = 0.0;
  CHECK(fbi::decide_failure(rules, r, 0.0) == fbi::failure_cause::none);
  rules.failure_ratio = 1.0;
  CHECK(fbi::decide_failure(rules, r, 0.99) == fbi::failure_cause::ratio);

  rules.failure_ratio = 0.0;
  r.backup_job_id = "nightly-fail-job";
  CHECK(fbi::decide_failure(rules, r, 0.5) == fbi::failure_cause::marker);
  rules.fail_marker = "";
  CHECK(fbi::decide_failure(rules, r, 0.5) == fbi::failure_cause::none);

  // hash mode depends on the id only; random mode on the draw only.
  rules.failure_ratio = 0.5;
  r.backup_job_id = "job-7";
  for (int i = 0; i < 50; ++i) {
    r.backup_request_id = "id-" + std::to_string(i);
    const bool expect = fbi::request_hash_unit(r.backup_request_id) < 0.5;
    CHECK((fbi::decide_failure(rules, r, 0.0) == fbi::failure_cause::ratio) == expect);
    CHECK((fbi::decide_failure(rules, r, 0.99) == fbi::failure_cause::ratio) == expect);
  }
  rules.mode = fbi::failure_mode::random;
  CHECK(fbi::decide_failure(rules, r, 0.49) == fbi::failure_cause::ratio);
  CHECK(fbi::decide_failure(rules, r, 0.5) == fbi::failure_cause::none);
}

TEST_CASE("replies are valid store status replies", "[fakes][interface]") {
  const auto handled = *parse_timestamp("2026-11-22T10:00:00.000Z");
  const auto request =
      sample_store_request("0193a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", domain::provider::cloud_a);

  const auto ok =
      fbi::make_reply(request, fbi::failure_cause::none, handled, std::chrono::milliseconds{1000});
  const nlohmann::json ok_json = ok;
  CHECK(schema_errors("backup-interface.store-status.v1.schema.json", ok_json).empty());
  const auto parsed = domain::parse_store_status_reply(ok_json);
  REQUIRE(parsed.has_value());
  CHECK(*parsed == ok);
  CHECK(ok.result_type_code == domain::store_result::succeeded);
  CHECK(ok.storage_path_name == request.storage_path_name + "/" + request.backup_request_id);
  CHECK(*ok.backup_byte_count > 0);
  CHECK(ok.copy_start_timestamp == handled);
  CHECK(ok.copy_end_timestamp == handled + std::chrono::milliseconds{600});
  CHECK(ok.verify_start_timestamp == ok.copy_end_timestamp);
  CHECK(ok.verify_end_timestamp == handled + std::chrono::milliseconds{1000});
  CHECK(ok.verified_hash->size() == 64);
  CHECK_FALSE(ok.message_text.has_value());

  const auto failed =
      fbi::make_reply(request, fbi::failure_cause::ratio, handled, std::chrono::milliseconds{0});
  const nlohmann::json failed_json = failed;
  CHECK(schema_errors("backup-interface.store-status.v1.schema.json", failed_json).empty());
  CHECK(failed.result_type_code == domain::store_result::failed);
  CHECK_FALSE(failed.storage_path_name.has_value());
  CHECK_FALSE(failed.backup_byte_count.has_value());
  CHECK(failed.message_text.has_value());

  auto long_path = request;
  long_path.storage_path_name = std::string(240, 'p');
  const auto cut =
      fbi::make_reply(long_path, fbi::failure_cause::none, handled, std::chrono::milliseconds{0});
  CHECK(cut.storage_path_name->size() == 250);
  CHECK(domain::parse_store_status_reply(nlohmann::json(cut)).has_value());
}

TEST_CASE("HTTP answers to a reply POST are delivered, retried or refused", "[fakes][interface]") {
  CHECK(fbi::classify_reply_status(202, "").delivered);
  const auto busy = fbi::classify_reply_status(503, "7");
  CHECK_FALSE(busy.delivered);
  CHECK_FALSE(busy.permanent);
  CHECK(busy.retry_after == std::chrono::milliseconds{7000});
  CHECK_FALSE(fbi::classify_reply_status(500, "soon").retry_after.has_value());
  CHECK_FALSE(fbi::classify_reply_status(429, "").permanent);
  CHECK_FALSE(fbi::classify_reply_status(408, "").permanent);
  CHECK(fbi::classify_reply_status(400, "").permanent);
  CHECK(fbi::classify_reply_status(401, "").permanent);
}

TEST_CASE("the fake interface's configuration is validated", "[fakes][interface][config]") {
  auto load = [](config::sources src, std::vector<std::string> args = {}) {
    return load_with<fbi::settings>(&fbi::load_settings, std::move(src), std::move(args));
  };
  {
    auto [s, text] = load(env({{"BKR_DATABASE_URL", "host=db"}}));
    REQUIRE(s.has_value());
    CHECK(s->providers.size() == 3);
    CHECK(s->transport == fbi::reply_transport::queue);
    CHECK(s->rules.reply_delay == std::chrono::milliseconds{1000});
    CHECK(s->rules.failure_ratio == 0.0);
    CHECK(s->rules.fail_marker == "fail");
    CHECK(s->http_port == 8091);
    CHECK(s->ops_port == 9085);
  }
  {
    auto [s, text] = load(env({{"BKR_DATABASE_URL", "host=db"},
                               {"BKR_FAKE_PROVIDERS", "CloudB, Local"},
                               {"BKR_FAKE_FAILURE_RATIO", "0.25"},
                               {"BKR_FAKE_REPLY_TRANSPORT", "http"},
                               {"BKR_FAKE_REPLY_URL", "http://127.0.0.1:8080/"},
                               {"BKR_FAKE_REPLY_TOKEN", "t0ken"}}));
    REQUIRE(s.has_value());
    CHECK(s->providers == std::vector{domain::provider::cloud_b, domain::provider::local});
    CHECK(s->rules.failure_ratio == 0.25);
    CHECK(s->replies_endpoint() == "http://127.0.0.1:8080/api/store-status-replies");
    CHECK(s->consumer_count() == 3);
  }
  {
    auto [s, text] = load(env({{"BKR_DATABASE_URL", "host=db"},
                               {"BKR_FAKE_FAILURE_RATIO", "1.5"},
                               {"BKR_FAKE_PROVIDERS", "Local,Local"},
                               {"BKR_FAKE_REPLY_TRANSPORT", "http"},
                               {"BKR_FAKE_REPLY_URL", "https://x"}}));
    CHECK_FALSE(s.has_value());
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_FAILURE_RATIO"));
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_PROVIDERS"));
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_REPLY_URL"));
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_REPLY_TOKEN"));
  }
  {
    auto [s, text] = load(env({}));
    CHECK_FALSE(s.has_value());
    CHECK_THAT(text, Catch::Contains("BKR_DATABASE_URL"));
  }
  {
    auto [s, text] =
        load(env({{"BKR_DATABASE_URL", "host=db password=hunter2"}, {"BKR_FAKE_REPLY_TOKEN", "s3cret"}}),
             {"--print-config"});
    CHECK_FALSE(s.has_value());
    CHECK(text.find("hunter2") == std::string::npos);
    CHECK(text.find("s3cret") == std::string::npos);
    const auto shown = nlohmann::json::parse(text);
    CHECK(shown["database.url"] == "***");
    CHECK(shown["fake.reply_token"] == "***");
    CHECK(shown["fake.reply_transport"] == "queue");
  }
  CHECK(fbi::parse_ratio("0").value() == 0.0);
  CHECK(fbi::parse_ratio("1").value() == 1.0);
  CHECK(fbi::parse_ratio("0.125").value() == 0.125);
  CHECK_FALSE(fbi::parse_ratio("-0.1").has_value());
  CHECK_FALSE(fbi::parse_ratio("nan").has_value());
  CHECK_FALSE(fbi::parse_ratio("0.5x").has_value());
  CHECK_FALSE(fbi::parse_providers("").has_value());
  CHECK_FALSE(fbi::parse_providers("Local,").has_value());
  CHECK_FALSE(fbi::parse_providers("local").has_value());
}

TEST_CASE("the error ratio fails exactly its share, spread evenly", "[fakes][job-service]") {
  manual_clock clock(*parse_timestamp("2026-11-22T10:00:00.000Z"));
  fjs::fault_injector faults({.latency = std::chrono::milliseconds{0}, .error_ratio = 0.25}, clock);
  std::string pattern;
  for (int i = 0; i < 12; ++i)
    pattern += faults.next() == fjs::verdict::injected_error ? 'x' : '.';
  CHECK(pattern == "...x...x...x");

  for (const double ratio : {0.0, 0.01, 0.29, 0.5, 0.7, 1.0}) {
    faults.set({.latency = std::chrono::milliseconds{0}, .error_ratio = ratio});
    int failed = 0;
    for (int i = 0; i < 1000; ++i)
      failed += faults.next() == fjs::verdict::injected_error ? 1 : 0;
    CHECK(failed == static_cast<int>(std::lround(ratio * 1000)));
  }
}

TEST_CASE("an outage lasts its window and can be ended early", "[fakes][job-service]") {
  manual_clock clock(*parse_timestamp("2026-11-22T10:00:00.000Z"));
  fjs::fault_injector faults({}, clock);
  CHECK(faults.next() == fjs::verdict::answer);
  faults.start_outage(fjs::outage_mode::unavailable, std::chrono::milliseconds{2000});
  CHECK(faults.next() == fjs::verdict::outage);
  CHECK(faults.to_json()["outage"]["mode"] == "unavailable");
  CHECK(faults.to_json()["outage"]["remainingMs"] == 2000);
  clock.advance(std::chrono::milliseconds{1999});
  CHECK(faults.next() == fjs::verdict::outage);
  clock.advance(std::chrono::milliseconds{1});
  CHECK(faults.next() == fjs::verdict::answer);
  CHECK(faults.to_json()["outage"].is_null());

  faults.start_outage(fjs::outage_mode::refuse, std::chrono::milliseconds{60000});
  REQUIRE(faults.current_outage().has_value());
  CHECK(faults.current_outage()->mode == fjs::outage_mode::refuse);
  faults.end_outage();
  CHECK_FALSE(faults.current_outage().has_value());
  CHECK(faults.next() == fjs::verdict::answer);
}

TEST_CASE("jobs files are read and checked", "[fakes][job-service][config]") {
  const auto jobs = fjs::parse_jobs(R"({"jobs": [{"backupJobId": "j1", "storagePathName": "s/1",
      "backupProviderCode": "CloudB", "daysToKeep": 3, "isActive": true, "holdFlag": false}]})");
  REQUIRE(jobs.has_value());
  REQUIRE(jobs->size() == 1);
  CHECK((*jobs)[0].backup_provider_code == domain::provider::cloud_b);
  CHECK(fjs::parse_jobs("[]").has_value());
  CHECK_FALSE(fjs::parse_jobs("not json").has_value());
  CHECK_FALSE(fjs::parse_jobs(R"({"other": []})").has_value());
  const auto bad =
      fjs::parse_jobs(R"([{"backupJobId": "j1", "storagePathName": "s", "backupProviderCode": "Nowhere",
      "daysToKeep": 3, "isActive": true, "holdFlag": false}])");
  REQUIRE_FALSE(bad.has_value());
  CHECK_THAT(bad.error().message, Catch::Contains("job 0"));
  CHECK_THAT(bad.error().message, Catch::Contains("backupProviderCode"));
  nlohmann::json twice = nlohmann::json::array({fjs::demo_jobs()[0], fjs::demo_jobs()[0]});
  const auto dup = fjs::parse_jobs(twice.dump());
  REQUIRE_FALSE(dup.has_value());
  CHECK_THAT(dup.error().message, Catch::Contains("twice"));
  CHECK_FALSE(fjs::load_jobs_file("/nonexistent/jobs.json").has_value());
}

TEST_CASE("the fake job service's configuration is validated", "[fakes][job-service][config]") {
  auto load = [](config::sources src, std::vector<std::string> args = {}) {
    return load_with<fjs::settings>(&fjs::load_settings, std::move(src), std::move(args));
  };
  {
    auto [s, text] = load(env({}));
    REQUIRE(s.has_value());
    CHECK(s->http_port == 8090);
    CHECK(s->ops_port == 9086);
    CHECK(s->jobs == fjs::demo_jobs());
    CHECK(s->faults.error_ratio == 0.0);
  }
  {
    auto [s, text] =
        load(env({{"BKR_FAKE_ERROR_RATIO", "2"}, {"BKR_FAKE_JOBS_FILE", "/nonexistent/jobs.json"}}));
    CHECK_FALSE(s.has_value());
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_ERROR_RATIO"));
    CHECK_THAT(text, Catch::Contains("BKR_FAKE_JOBS_FILE"));
  }
  {
    auto [s, text] = load(env({{"BKR_FAKE_LATENCY", "250ms"}}), {"--print-config"});
    CHECK_FALSE(s.has_value());
    CHECK(nlohmann::json::parse(text)["fake.latency"] == "250ms");
  }
  {
    auto [s, text] = load(env({}), {"--help"});
    CHECK_FALSE(s.has_value());
    for (const auto* key : {"BKR_HTTP_PORT", "BKR_OPS_PORT", "BKR_FAKE_JOBS_FILE", "BKR_FAKE_LATENCY",
                            "BKR_FAKE_ERROR_RATIO", "BKR_LOG_LEVEL", "BKR_DRAIN_DEADLINE"})
      CHECK_THAT(text, Catch::Contains(key));
  }
}
