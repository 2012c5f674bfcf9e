// The real executables of the pipeline, started as child processes (and once under pm2) on a per-test
// database: every request reaches its final status once, through each transition exactly once.
#include "pg_test_database.hpp"
#include "process.hpp"
#include "stack.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using namespace std::chrono_literals;
using namespace bkr::test;

namespace {

// Every request went through exactly the transitions of its final status, each once; the queues are empty
// and nothing was dead-lettered.
void check_journeys(const std::string& conninfo, const std::vector<std::string>& ids) {
  std::map<std::string, std::string> accepted;
  for (const auto& id : ids)
    accepted[id] = "";
  const auto report = check_invariants(conninfo, accepted);
  INFO(report.summary() << "\n" << report.example);
  CHECK(report.clean());
  CHECK(report.wrong_journeys == 0);
  CHECK(report.dead_letters == 0);
}

}  // namespace

TEST_CASE("1,000 requests through the real executables reach their final status, each transition once",
          "[pipeline][e2e]") {
  bkr::test::pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("pipeline");
  const auto api_port = free_port();
  bkr::test::stack processes(pipeline_apps(db.conninfo(), api_port), dir);
  processes.start_all();
  processes.require_ready(30s);
  const auto token = mint_token(db.conninfo());

  const auto started = std::chrono::steady_clock::now();
  auto ids = submit(api_port, token, "demo-local", 600, 4);
  const auto not_allowed = submit(api_port, token, "demo-inactive", 200, 4);
  const auto failing = submit(api_port, token, "e2e-fail", 200, 4);
  REQUIRE(ids.size() + not_allowed.size() + failing.size() == 1000);

  const bool all_final = eventually([&] { return finished(db.conninfo()) == 1000; }, 60s);
  const auto counts = final_counts(db.conninfo());
  for (const auto& [status, n] : counts) {
    UNSCOPED_INFO(status << ": " << n);
  }
  REQUIRE(all_final);
  WARN("1,000 requests final after " << std::chrono::duration_cast<std::chrono::milliseconds>(
                                            std::chrono::steady_clock::now() - started)
                                            .count()
                                     << " ms");
  CHECK(counts.at("Succeeded") == 600);
  CHECK(counts.at("NotAllowed") == 200);
  CHECK(counts.at("Failed") == 200);
  // The last settlements retire their messages in the same transaction as the status: nothing may remain.
  CHECK(eventually([&] { return queued_messages(db.conninfo()) == 0; }, 10s));
  ids.insert(ids.end(), not_allowed.begin(), not_allowed.end());
  ids.insert(ids.end(), failing.begin(), failing.end());
  check_journeys(db.conninfo(), ids);

  const auto codes = processes.stop_all(15s);
  for (std::size_t i = 0; i < processes.size(); ++i) {
    INFO(processes.at(i).name);
    REQUIRE(codes[i].has_value());
    CHECK(*codes[i] == 0);
  }
  fs::remove_all(dir);
}

TEST_CASE("under pm2 a graceful stop loses no accepted request and every process exits 0",
          "[pipeline][e2e]") {
  const auto pm2 = project_pm2();
  if (!pm2) {
    SUCCEED("pm2 is not installed (node_modules/.bin/pm2) and npm is unavailable: skipped");
    return;
  }
  bkr::test::pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("pm2");
  const auto api_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  // Replies take 2 s, so the stop below finds requests in the middle of their journey.
  apps.back().env["BKR_FAKE_REPLY_DELAY"] = "2s";

  // The generated pm2 configuration: the built executables, this test's database and ports.
  const auto config = pm2_config(apps, dir);
  const auto config_path = dir / "pm2.config.json";
  std::ofstream(config_path) << config.dump(2);

  pm2_runner runner(*pm2, dir / "home");
  const auto started = runner.run({"start", config_path.string()});
  INFO(started.out << started.err);
  REQUIRE(started.exit_code == 0);
  for (const auto& a : apps) {
    INFO(a.name);
    REQUIRE(eventually([&] { return ready(a.ops_port); }, 30s));
  }
  const auto token = mint_token(db.conninfo());

  // Requests accepted just before the stop are in flight in the workers when SIGINT arrives.
  const auto ids = submit(api_port, token, "demo-local", 300, 4);
  REQUIRE(ids.size() == 300);
  const auto stopped = runner.run({"stop", config_path.string()});
  INFO(stopped.out << stopped.err);
  REQUIRE(stopped.exit_code == 0);
  for (const auto& p : runner.processes()) {
    INFO(p.name);
    CHECK(p.status == "stopped");
    CHECK(p.exit_code == 0);
  }
  for (const auto& a : apps) {
    CHECK_FALSE(ready(a.ops_port));
  }
  CHECK(finished(db.conninfo()) < 300);

  const auto restarted = runner.run({"start", config_path.string()});
  REQUIRE(restarted.exit_code == 0);
  REQUIRE(eventually([&] { return finished(db.conninfo()) == 300; }, 60s));
  CHECK(final_counts(db.conninfo()).at("Succeeded") == 300);
  check_journeys(db.conninfo(), ids);
  for (const auto& p : runner.processes()) {
    INFO(p.name);
    CHECK(p.status == "online");
  }
  runner.run({"delete", config_path.string()});
  runner.kill();
  fs::remove_all(dir);
}
