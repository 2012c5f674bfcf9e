// Two instances of every executable of the pipeline under real pm2 (ops port per instance, the intake's
// instances sharing the API port), two partitions per queue so that both instances of a stage serve at once,
// and SIGKILLs of single instances under load that pm2 restarts: nothing is lost, doubled or stranded, and
// every instance did work.
#include "fault_harness.hpp"
#include "pg_test_database.hpp"

#include "bkr/domain/messages.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>

using namespace bkr::test;
using namespace bkr::fault_test;
using namespace std::chrono_literals;

namespace {

constexpr int instances = 2;
constexpr std::uint16_t port_stride = 100;  // instance i listens on ops.port + 100 x i

/// The sum of every sample of the metric family `name` in a Prometheus exposition.
double family_sum(const std::string& exposition, const std::string& name) {
  double sum = 0;
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(name, 0) != 0 ||
        (line.size() > name.size() && line[name.size()] != '{' && line[name.size()] != ' '))
      continue;
    sum += std::stod(line.substr(line.rfind(' ') + 1));
  }
  return sum;
}

}  // namespace

TEST_CASE(
    "scale-out: two instances of every executable under pm2 share the work, SIGKILLs of single "
    "instances lose and double nothing",
    "[fault][scale]") {
  const auto pm2 = project_pm2();
  if (!pm2) {
    SUCCEED("pm2 is not installed (node_modules/.bin/pm2) and npm is unavailable: skipped");
    return;
  }
  const auto sc = scale::from_environment();
  const int requests = sc.requests_or(4000);
  const int kills = sc.kills_or(10);

  pg_test_database db;
  seed(db.conninfo());
  {
    bkr::storage::connection_pool pool({.conninfo = db.conninfo(), .size = 1});
    bkr::messaging::postgres::log_admin admin(pool);
    for (const auto* q : {&bkr::domain::accepted_message, &bkr::domain::received_message,
                          &bkr::domain::allowed_message, &bkr::domain::store_status_message}) {
      const auto set = admin.set_partitions(q->queue, instances);
      INFO(q->queue << ": " << (set ? "" : set.error().message));
      REQUIRE(set.has_value());
    }
  }
  const auto dir = scratch_dir("fault-scale-out");
  const auto api_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  const std::set<std::string> pipeline{"bkr-receive-request", "bkr-create-request", "bkr-check-allowed",
                                       "bkr-send-to-interface", "bkr-receive-status"};
  for (auto& a : apps)
    if (a.name == "bkr-receive-request")
      a.env["BKR_HTTP_REUSE_PORT"] = "true";
  const auto instances_of = [&](const app& a) { return pipeline.count(a.name) != 0 ? instances : 1; };
  // Every instance's ops port: ops.port + 100 x NODE_APP_INSTANCE, which pm2 sets.
  std::vector<std::pair<std::string, std::uint16_t>> ops;
  for (const auto& a : apps)
    for (int i = 0; i < instances_of(a); ++i)
      ops.emplace_back(a.name + "#" + std::to_string(i),
                       static_cast<std::uint16_t>(a.ops_port + port_stride * i));

  const auto config_path = dir / "pm2.config.json";
  std::ofstream(config_path) << pm2_config(apps, dir, instances_of).dump(2);
  pm2_runner runner(*pm2, dir / "home");
  const auto started = runner.run({"start", config_path.string()});
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  for (const auto& [name, port] : ops) {
    INFO(name << " on ops port " << port);
    REQUIRE(eventually([&] { return ready(port); }, 60s));
  }
  const auto first = runner.processes();
  REQUIRE(first.size() == ops.size());
  const auto token = mint_token(db.conninfo());

  // The most work each instance has reported so far: a killed instance starts its counters again, so they
  // are read before every kill and at the end.
  std::map<std::string, double> work_seen;
  const auto sample_work = [&] {
    for (const auto& [name, port] : ops) {
      if (name.rfind("bkr-fake", 0) == 0)
        continue;
      const auto text = metrics_text(port);
      const double work = name.rfind("bkr-receive-request", 0) == 0
                              ? family_sum(text, "bkr_http_requests_total")
                              : family_sum(text, "bkr_stage_messages_total");
      work_seen[name] = std::max(work_seen[name], work);
    }
  };

  // The load, with one instance SIGKILLed at a time (round robin over the pipeline's instances); pm2
  // restarts each.
  const double rate = 250;
  const auto planned = std::chrono::milliseconds{static_cast<long>(1000.0 * requests / rate)};
  load_run load({.api_port = api_port,
                 .token = token,
                 .count = requests,
                 .threads = 8,
                 .rate = rate,
                 .key_prefix = "scale",
                 .deadline = planned + 5min,
                 .job_of = job_mix});
  int done_kills = 0;
  std::map<std::string, int> killed;
  const auto interval = planned * 7 / 10 / std::max(kills, 1);
  for (int k = 0; k < kills; ++k) {
    std::this_thread::sleep_for(interval);  // the kill schedule's pace, not a wait for a condition
    sample_work();
    auto now = runner.processes();
    std::vector<pm2_process> targets;
    for (const auto& p : now)
      if (pipeline.count(p.name) != 0 && p.status == "online" && p.pid > 0)
        targets.push_back(p);
    if (targets.empty())
      continue;
    const auto& victim = targets[static_cast<std::size_t>(k) % targets.size()];
    if (::kill(victim.pid, SIGKILL) == 0) {
      ++done_kills;
      ++killed[victim.name];
    }
  }
  const auto& submitted = load.result();
  std::map<std::string, std::string> accepted;
  for (const auto& a : submitted.accepted)
    accepted[a.id] = a.job;
  INFO("load: " << submitted.accepted.size() << " accepted, " << submitted.retried_requests << " retried, "
                << submitted.connection_errors << " connection errors, given up " << submitted.given_up << " "
                << submitted.example_failure);
  CHECK(submitted.given_up == 0);

  const auto report = settle_and_check(db.conninfo(), accepted, 3min);
  const auto dead = dead_letters(db.conninfo());
  INFO(report.summary() << "\n" << report.example);
  INFO(describe(dead, {}));

  // pm2 restarted every killed instance, and every instance (restarted or not) is ready and did work:
  // the intake's instances both answered requests, each worker instance handled messages.
  const auto all_back = [&] {
    int sum = 0;
    for (const auto& p : runner.processes()) {
      if (p.status != "online")
        return false;
      sum += p.restarts;
    }
    return sum >= done_kills;
  };
  CHECK(eventually(all_back, 30s));
  int restarts = 0;
  for (const auto& p : runner.processes()) {
    INFO(p.name << " pm_id " << p.pm_id);
    CHECK(p.status == "online");
    restarts += p.restarts;
  }
  for (const auto& [name, port] : ops) {
    INFO(name);
    CHECK(eventually([&] { return ready(port); }, 30s));
  }
  sample_work();
  std::string idle_instances;
  for (const auto& [name, work] : work_seen)
    if (work <= 0)
      idle_instances += name + " ";
  print_summary("scale-out", "requests=" + std::to_string(requests) + " " + report.summary() + " instances=" +
                                 std::to_string(ops.size()) + " kills=" + std::to_string(done_kills) +
                                 " pm2_restarts=" + std::to_string(restarts) +
                                 " idle_instances=" + (idle_instances.empty() ? "none" : idle_instances) +
                                 " retried_posts=" + std::to_string(submitted.retried_requests));
  check_invariants(report, requests);
  CHECK(dead.empty());
  CHECK(done_kills == kills);
  CHECK(restarts >= done_kills);
  CHECK(idle_instances.empty());

  const auto stopped = runner.run({"stop", config_path.string()});
  CHECK(stopped.exit_code == 0);
  for (const auto& p : runner.processes()) {
    INFO(p.name << " pm_id " << p.pm_id);
    CHECK(p.exit_code == 0);
  }
  runner.run({"delete", config_path.string()});
  runner.kill();
}
