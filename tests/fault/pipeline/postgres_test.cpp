// Postgres stopped under load (fast, then immediate: crash recovery) and started again on a private
// cluster: the services come back by themselves and every 202 still reaches its final status, once.
#include "fault_harness.hpp"

#include <catch2/catch.hpp>

#include <sstream>

using namespace bkr::test;
using namespace bkr::fault_test;
using namespace std::chrono_literals;

TEST_CASE("postgres: stopped fast and immediate under load, every 202 still reaches its final status once",
          "[fault][postgres]") {
  const auto sc = scale::from_environment();
  const int requests = sc.requests_or(6000);
  const auto down_for = sc.outage_or(4s);
  const int outages = sc.soak ? 6 : 2;  // alternately fast and immediate
  // The stages' batches commit asynchronously: crash recovery keeps a WAL prefix.

  private_cluster pg("fault-pg");
  seed(pg.conninfo());
  const auto dir = scratch_dir("fault-postgres");
  const auto api_port = free_port();
  auto apps = pipeline_apps(pg.conninfo(), api_port);
  // Refuse quickly while the database is away (the client retries with its Idempotency-Key).
  apps[0].env["BKR_GROUP_COMMIT_TIMEOUT"] = "1s";
  apps[0].env["BKR_DATABASE_HEALTH_INTERVAL"] = "200ms";
  REQUIRE(apps[0].name == "bkr-receive-request");
  stack processes(apps, dir);
  processes.start_all();
  processes.require_ready(60s);
  const auto token = mint_token(pg.conninfo());

  const double rate = 250;
  const auto planned = std::chrono::milliseconds{static_cast<long>(1000.0 * requests / rate)};
  const auto started = std::chrono::steady_clock::now();
  supervisor watch(processes, {.restart_delay = 1s});
  load_run load({.api_port = api_port,
                 .token = token,
                 .count = requests,
                 .threads = 8,
                 .rate = rate,
                 .key_prefix = "pg",
                 .deadline = planned + outages * down_for + 5min,
                 .job_of = job_mix});

  // Outages spread over the load: each starts once a further share of the requests has been answered.
  std::vector<std::string> modes;
  long answered_during_outages = 0;
  for (int k = 0; k < outages; ++k) {
    const long due = static_cast<long>(requests) * (k + 1) / (outages + 2);
    REQUIRE(eventually([&] { return load.progress() >= due; }, 3min, 100ms));
    const std::string mode = k % 2 == 0 ? "fast" : "immediate";
    modes.push_back(mode);
    pg.stop(mode);
    // The front door notices: not ready, failing "postgres".
    CHECK(eventually([&] { return !ready(processes.at(0).ops_port); }, 10s, 100ms));
    const long before = load.progress();
    // The outage lasts a fixed time on purpose: the services must ride it out, not be told it ended.
    std::this_thread::sleep_for(down_for);
    answered_during_outages += load.progress() - before;
    pg.start();
    CHECK(eventually([&] { return ready(processes.at(0).ops_port); }, 30s, 100ms));
  }
  const auto& submitted = load.result();
  std::map<std::string, std::string> accepted;
  for (const auto& a : submitted.accepted)
    accepted[a.id] = a.job;
  INFO("load: " << submitted.accepted.size() << " accepted, " << submitted.retried_requests
                << " retried, given up " << submitted.given_up << " " << submitted.example_failure);
  CHECK(submitted.given_up == 0);

  const auto report = settle_and_check(pg.conninfo(), accepted, 4min);
  watch.stop();
  const auto dead = dead_letters(pg.conninfo());
  const auto unexpected = watch.unexpected_exits();
  INFO(report.summary() << "\n" << report.example);
  INFO(describe(dead, unexpected));
  std::ostringstream mode_list;
  for (std::size_t i = 0; i < modes.size(); ++i)
    mode_list << (i ? "," : "") << modes[i];

  print_summary("postgres", "requests=" + std::to_string(requests) + " " + report.summary() + " outages=" +
                                mode_list.str() + " down_seconds=" + std::to_string(down_for.count()) +
                                " accepted_while_down=" + std::to_string(answered_during_outages) +
                                " retried_posts=" + std::to_string(submitted.retried_requests) +
                                " process_exits=" + std::to_string(unexpected.size()) +
                                " seconds=" + seconds_since(started));

  check_invariants(report, requests);
  CHECK(dead.empty());
  // The services recover by themselves: none of them had to be started again.
  CHECK(unexpected.empty());

  stop_cleanly(processes, dir);
}
