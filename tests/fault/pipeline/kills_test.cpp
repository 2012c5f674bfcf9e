// kill -9 of every executable at random moments under load, each started again as a supervisor would:
// nothing answered 202 is lost, doubled or stuck, and every transition happens exactly once.
#include "fault_harness.hpp"
#include "pg_test_database.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace bkr::test;
using namespace bkr::fault_test;
using namespace std::chrono_literals;

TEST_CASE("kills: SIGKILL of every executable under load loses, doubles and strands nothing",
          "[fault][kills]") {
  const auto sc = scale::from_environment();
  const int requests = sc.requests_or(20000);
  const int kills = sc.kills_or(24);
  const unsigned schedule_seed = sc.random_seed();
  INFO("seed " << schedule_seed << " (BKR_FAULT_SEED repeats the kill schedule)");
  // A killed consumer's partition is taken over by the surviving instance of its stage, or by its restart.

  pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("fault-kills");
  write_jobs_file(dir / "jobs.json");
  const auto api_port = free_port();
  const auto jobs_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  // A second CheckAllowed asks the fake job service over HTTP instead of the local table: the two compete
  // for backup-request.received, and the HTTP one's breaker opens whenever the fake is killed.
  auto http_check = another_instance(apps.at(2), "bkr-check-allowed-http");
  REQUIRE(http_check.exe.ends_with("bkr-check-allowed"));
  http_check.env["BKR_JOB_SERVICE_MODE"] = "http";
  http_check.env["BKR_JOB_SERVICE_URL"] = "http://127.0.0.1:" + std::to_string(jobs_port);
  http_check.env["BKR_BREAKER_OPEN_FOR"] = "1s";
  apps.push_back(http_check);
  apps.push_back(fake_job_service_app(jobs_port, (dir / "jobs.json").string()));
  stack processes(apps, dir);
  processes.start_all();
  processes.require_ready(60s);
  const auto token = mint_token(db.conninfo());

  // The load is spread so that kills land while requests are in every stage.
  const double rate = sc.soak ? 400 : 500;
  const auto planned = std::chrono::milliseconds{static_cast<long>(1000.0 * requests / rate)};
  supervisor::options o;
  for (std::size_t i = 0; i < processes.size(); ++i)
    o.kill_targets.push_back(i);
  o.kills = kills;
  const auto mean = planned / std::max(kills, 1);
  o.kill_interval_min = mean / 2;
  o.kill_interval_max = mean * 3 / 2;
  o.restart_delay = 500ms;
  o.seed = schedule_seed;

  const auto started = std::chrono::steady_clock::now();
  supervisor chaos(processes, o);
  load_run load({.api_port = api_port,
                 .token = token,
                 .count = requests,
                 .threads = 8,
                 .rate = rate,
                 .key_prefix = "kills",
                 .deadline = planned + 5min,
                 .job_of = job_mix});
  const auto& submitted = load.result();
  // The schedule ends with the load or soon after; kills still due then happen on the draining pipeline.
  REQUIRE(eventually([&] { return chaos.kills_done(); }, planned + 2min, 100ms));
  chaos.stop();

  std::map<std::string, std::string> accepted;
  for (const auto& a : submitted.accepted)
    accepted[a.id] = a.job;
  INFO("load: " << submitted.accepted.size() << " accepted, " << submitted.retried_requests << " retried, "
                << submitted.connection_errors << " connection errors, given up " << submitted.given_up << " "
                << submitted.example_failure);
  CHECK(submitted.given_up == 0);
  CHECK(accepted.size() == submitted.accepted.size());  // one id per Idempotency-Key

  // Requests that needed more than one POST (their first may have been committed by a process killed before
  // it answered), plus every 50th: posted again with their key, each must get the id it got first.
  long replay_mismatches = 0;
  {
    std::map<int, std::string> first_id;
    for (const auto& a : submitted.accepted)
      first_id[a.index] = a.id;
    auto sample = submitted.retried_indexes;
    for (int i = 0; i < requests; i += 50)
      sample.push_back(i);
    load_run replay({.api_port = api_port,
                     .token = token,
                     .count = requests,
                     .threads = 8,
                     .key_prefix = "kills",
                     .deadline = 3min,
                     .job_of = job_mix,
                     .only = sample});
    const auto& again = replay.result();
    CHECK(again.given_up == 0);
    for (const auto& a : again.accepted)
      if (first_id[a.index] != a.id)
        ++replay_mismatches;
  }
  CHECK(replay_mismatches == 0);

  const auto report = settle_and_check(db.conninfo(), accepted, 3min);
  const auto dead = dead_letters(db.conninfo());
  const auto unexpected = chaos.unexpected_exits();
  std::ostringstream by_app;
  for (const auto& [name, n] : chaos.kills_by_app())
    by_app << name << "=" << n << " ";
  INFO("kills by app: " << by_app.str());
  INFO(report.summary() << "\n" << report.example);
  INFO(describe(dead, unexpected));

  print_summary("kills", "requests=" + std::to_string(requests) + " " + report.summary() + " kills=" +
                             std::to_string(chaos.kills()) + " restarts=" + std::to_string(chaos.restarts()) +
                             " unexpected_exits=" + std::to_string(unexpected.size()) +
                             " retried_posts=" + std::to_string(submitted.retried_requests) +
                             " replay_mismatches=" + std::to_string(replay_mismatches) +
                             " seed=" + std::to_string(schedule_seed) + " seconds=" + seconds_since(started));

  CHECK(chaos.kills() >= kills);
  CHECK(chaos.kills_by_app().size() == processes.size());
  check_invariants(report, requests);
  CHECK(dead.empty());
  CHECK(unexpected.empty());

  stop_cleanly(processes, dir);
}
