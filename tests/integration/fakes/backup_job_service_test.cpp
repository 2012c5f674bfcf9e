// The fake backup job service: answers, latency, error ratio, outage windows, ops endpoints, and the demo
// jobs matching bkrctl seed-demo.
#include "bkr/domain/json.hpp"
#include "bkr/fake_backup_job_service/catalog.hpp"
#include "bkr/fake_backup_job_service/service.hpp"
#include "bkr/http/client.hpp"
#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"
#include "fakes_support.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"

#include <catch2/catch.hpp>

#include <signal.h>

#include <filesystem>
#include <fstream>

using namespace bkr;
using namespace bkr::test;
namespace fjs = bkr::fake_backup_job_service;

namespace {

std::string job_service_path() {
  return built_executable("tools/fake-backup-job-service/bkr-fake-backup-job-service");
}

fjs::settings test_settings() {
  fjs::settings s;
  s.http_port = 0;
  s.ops_port = 0;
  s.jobs = fjs::demo_jobs();
  s.drain_deadline = std::chrono::milliseconds{500};
  s.log_level = spdlog::level::warn;
  return s;
}

/// An in-process job service on free ports.
struct running_service {
  explicit running_service(fjs::settings s)
      : service(std::move(s), bkr::logger("fake-jobs-test", spdlog::level::warn), clock) {
    service.start();
    base = "http://127.0.0.1:" + std::to_string(service.port());
  }
  ~running_service() { service.stop(); }

  bkr::system_clock clock;
  fjs::service service;
  std::string base;
};

unsigned status_of(http::blocking_client& client, const std::string& url) {
  const auto r = client.get(url);
  return r.has_value() ? r->status : 0;
}

}  // namespace

TEST_CASE("the binary answers the demo jobs, 404 for unknown ids, serves ops and stops on SIGTERM",
          "[fakes][job-service][process]") {
  child_process jobs(job_service_path(), {{"BKR_HTTP_PORT", "0"}, {"BKR_OPS_PORT", "0"}});
  const auto started = jobs.wait_started();
  const auto base = "http://127.0.0.1:" + std::to_string(started["httpPort"].get<int>());
  const auto ops = "http://127.0.0.1:" + std::to_string(started["opsPort"].get<int>());
  http::blocking_client client;

  for (const auto& job : fjs::demo_jobs()) {
    const auto r = client.get(base + "/backup-jobs/" + job.backup_job_id);
    REQUIRE(r.has_value());
    CHECK(r->status == 200);
    const auto parsed = domain::parse_backup_job(nlohmann::json::parse(r->body));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == job);
  }
  const auto unknown = client.get(base + "/backup-jobs/no-such-job");
  REQUIRE(unknown.has_value());
  CHECK(unknown->status == 404);
  const auto error = nlohmann::json::parse(unknown->body);
  CHECK(error["code"] == "NotFound");
  CHECK_THAT(error["message"].get<std::string>(), Catch::Contains("no-such-job"));

  CHECK(status_of(client, ops + "/livez") == 200);
  CHECK(status_of(client, ops + "/readyz") == 200);
  const auto health = client.get(ops + "/healthz");
  REQUIRE(health.has_value());
  const auto h = nlohmann::json::parse(health->body);
  CHECK(h["service"] == "bkr-fake-backup-job-service");
  CHECK(h["jobs"]["count"] == 5);
  CHECK(h["faults"]["outage"].is_null());
  const auto metrics = client.get(ops + "/metrics");
  REQUIRE(metrics.has_value());
  CHECK(metric_value(metrics->body, "bkr_fake_jobs_answers_total{result=\"found\"}") == 5.0);
  CHECK(metric_value(metrics->body, "bkr_fake_jobs_answers_total{result=\"not_found\"}") == 1.0);

  jobs.signal(SIGTERM);
  CHECK(jobs.wait_exit(10s) == 0);
  INFO(jobs.output());
  CHECK_FALSE(jobs.log_line("stopped").is_null());
}

TEST_CASE("an outage answers 503 for its window, can end early, and a refuse outage closes the port",
          "[fakes][job-service][process]") {
  child_process jobs(job_service_path(), {{"BKR_HTTP_PORT", "0"}, {"BKR_OPS_PORT", "0"}});
  const auto started = jobs.wait_started();
  const auto base = "http://127.0.0.1:" + std::to_string(started["httpPort"].get<int>());
  const auto ops = "http://127.0.0.1:" + std::to_string(started["opsPort"].get<int>());
  const auto job_url = base + "/backup-jobs/demo-local";
  http::blocking_client client({.connect_timeout = std::chrono::milliseconds{500},
                                .request_timeout = std::chrono::milliseconds{2000}});

  SECTION("unavailable for the window, then answering again") {
    const auto begin = std::chrono::steady_clock::now();
    const auto on = client.post_json(base + "/admin/outage", R"({"seconds": 0.8})");
    REQUIRE(on.has_value());
    CHECK(on->status == 202);
    CHECK(nlohmann::json::parse(on->body)["outage"]["mode"] == "unavailable");
    const auto during = client.get(job_url);
    REQUIRE(during.has_value());
    CHECK(during->status == 503);
    CHECK(during->headers.get("Retry-After") == "1");
    CHECK(nlohmann::json::parse(during->body)["code"] == "Unavailable");
    const auto state = client.get(base + "/admin/outage");
    REQUIRE(state.has_value());
    CHECK(nlohmann::json::parse(state->body)["outage"]["mode"] == "unavailable");
    REQUIRE(eventually([&] { return status_of(client, job_url) == 200; }, 5s));
    CHECK(std::chrono::steady_clock::now() - begin >= std::chrono::milliseconds{790});
  }

  SECTION("ended early") {
    const auto on = client.post_json(base + "/admin/outage", R"({"seconds": 60})");
    REQUIRE(on.has_value());
    CHECK(status_of(client, job_url) == 503);
    const auto off = client.send({.method = http::method::del, .url = base + "/admin/outage"});
    REQUIRE(off.has_value());
    CHECK(off->status == 200);
    CHECK(status_of(client, job_url) == 200);
  }

  SECTION("refusing connections for the window") {
    const auto begin = std::chrono::steady_clock::now();
    const auto on = client.post_json(base + "/admin/outage", R"({"seconds": 0.8, "mode": "refuse"})");
    REQUIRE(on.has_value());
    CHECK(on->status == 202);
    REQUIRE(eventually([&] {
      const auto r = client.get(job_url);
      return !r.has_value() && r.error().code == http::client_errc::connect_refused;
    }));
    CHECK(status_of(client, ops + "/readyz") == 503);
    REQUIRE(eventually([&] { return status_of(client, job_url) == 200; }, 5s));
    CHECK(std::chrono::steady_clock::now() - begin >= std::chrono::milliseconds{790});
    CHECK(status_of(client, ops + "/readyz") == 200);
  }

  SECTION("bad outage requests") {
    for (const auto* body :
         {R"({})", R"({"seconds": 0})", R"({"seconds": "5"})", R"({"seconds": 5, "mode": "x"})", R"([1])"}) {
      INFO(body);
      const auto r = client.post_json(base + "/admin/outage", body);
      REQUIRE(r.has_value());
      CHECK(r->status == 400);
    }
    CHECK(status_of(client, job_url) == 200);
  }
}

TEST_CASE("added latency delays every job answer and can be changed at run time", "[fakes][job-service]") {
  auto settings = test_settings();
  settings.faults.latency = std::chrono::milliseconds{250};
  running_service jobs(settings);
  http::blocking_client client;
  const auto begin = std::chrono::steady_clock::now();
  CHECK(status_of(client, jobs.base + "/backup-jobs/demo-cloud-a") == 200);
  CHECK(status_of(client, jobs.base + "/backup-jobs/unknown") == 404);
  CHECK(std::chrono::steady_clock::now() - begin >= std::chrono::milliseconds{500});

  const auto changed = client.send({.method = http::method::put,
                                    .url = jobs.base + "/admin/faults",
                                    .body = R"({"latencyMs": 0})",
                                    .content_type = "application/json"});
  REQUIRE(changed.has_value());
  CHECK(changed->status == 200);
  CHECK(nlohmann::json::parse(changed->body)["latencyMs"] == 0);
  const auto quick = std::chrono::steady_clock::now();
  CHECK(status_of(client, jobs.base + "/backup-jobs/demo-cloud-a") == 200);
  CHECK(std::chrono::steady_clock::now() - quick < std::chrono::milliseconds{200});
}

TEST_CASE("the error ratio answers exactly its share with 500", "[fakes][job-service]") {
  auto settings = test_settings();
  settings.faults.error_ratio = 0.25;
  running_service jobs(settings);
  http::blocking_client client;
  int failed = 0;
  for (int i = 0; i < 40; ++i) {
    const auto r = client.get(jobs.base + "/backup-jobs/demo-local");
    REQUIRE(r.has_value());
    if (r->status == 500) {
      ++failed;
      CHECK(nlohmann::json::parse(r->body)["code"] == "InjectedFailure");
    } else {
      CHECK(r->status == 200);
    }
  }
  CHECK(failed == 10);
  const auto off = client.send({.method = http::method::put,
                                .url = jobs.base + "/admin/faults",
                                .body = R"({"errorRatio": 0})",
                                .content_type = "application/json"});
  REQUIRE(off.has_value());
  for (int i = 0; i < 10; ++i)
    CHECK(status_of(client, jobs.base + "/backup-jobs/demo-local") == 200);
  const auto bad = client.send({.method = http::method::put,
                                .url = jobs.base + "/admin/faults",
                                .body = R"({"errorRatio": 3})",
                                .content_type = "application/json"});
  REQUIRE(bad.has_value());
  CHECK(bad->status == 400);
}

TEST_CASE("jobs come from the jobs file when one is configured", "[fakes][job-service][process]") {
  const auto path = std::filesystem::temp_directory_path() / "bkr-fake-jobs-test.json";
  {
    std::ofstream out(path);
    out << R"({"jobs": [{"backupJobId": "file-job", "storagePathName": "cloud-b/file", "backupProviderCode": "CloudB",
                        "daysToKeep": 12, "isActive": false, "holdFlag": true}]})";
  }
  child_process jobs(job_service_path(),
                     {{"BKR_HTTP_PORT", "0"}, {"BKR_OPS_PORT", "0"}, {"BKR_FAKE_JOBS_FILE", path.string()}});
  const auto started = jobs.wait_started();
  const auto base = "http://127.0.0.1:" + std::to_string(started["httpPort"].get<int>());
  http::blocking_client client;
  const auto r = client.get(base + "/backup-jobs/file-job");
  REQUIRE(r.has_value());
  CHECK(r->status == 200);
  const auto job = domain::parse_backup_job(nlohmann::json::parse(r->body));
  REQUIRE(job.has_value());
  CHECK(job->backup_provider_code == domain::provider::cloud_b);
  CHECK(job->days_to_keep == 12);
  CHECK_FALSE(job->is_active);
  CHECK(job->hold_flag);
  CHECK(status_of(client, base + "/backup-jobs/demo-local") == 404);
  std::filesystem::remove(path);

  const auto bad = run_process({job_service_path()}, {{"BKR_FAKE_JOBS_FILE", "/nonexistent/jobs.json"}});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("BKR_FAKE_JOBS_FILE"));
}

TEST_CASE("the demo jobs are the ones bkrctl seed-demo writes", "[fakes][job-service]") {
  pg_test_database db;
  const auto seeded = run_process({built_executable("tools/bkrctl/bkrctl"), "seed-demo"},
                                  {{"BKR_DATABASE_URL", db.conninfo()}});
  INFO(seeded.err);
  REQUIRE(seeded.exit_code == 0);
  storage::connection_pool pool({db.conninfo(), 1, 10s});
  storage::unit_of_work uow(pool);
  const auto count = uow.tx().exec1("SELECT count(*) FROM backup_job")[0].as<std::size_t>();
  CHECK(count == fjs::demo_jobs().size());
  const storage::backup_job_repository repository;
  for (const auto& job : fjs::demo_jobs()) {
    INFO(job.backup_job_id);
    const auto stored = repository.find(uow, job.backup_job_id);
    REQUIRE(stored.has_value());
    CHECK(*stored == job);
  }
}
