// The backup interface (hung: no answer) and the job service (connections refused) away for 30 s each,
// overlapping, under load: the breakers open and say so, claims pause instead of burning attempts into dead
// letters, and everything completes once they are back.
#include "fault_harness.hpp"
#include "pg_test_database.hpp"

#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <catch2/catch.hpp>

#include <csignal>

using namespace bkr::test;
using namespace bkr::fault_test;
using namespace std::chrono_literals;

namespace {

/// The failing readiness checks of an ops listener ("" when ready or not answering).
std::string failing_checks(std::uint16_t ops_port) {
  try {
    const auto r = bkr::rr_test::http_call(ops_port, "GET", "/readyz");
    return r.status == 200 ? std::string() : r.json().value("failing", nlohmann::json::array()).dump();
  } catch (const std::exception&) {
    return {};
  }
}

/// The messages not consumed yet on `queue` (the log and its delay lane).
std::vector<bkr::messaging::waiting_message> waiting_on(const std::string& conninfo,
                                                        const std::string& queue) {
  bkr::storage::connection_pool pool({.conninfo = conninfo, .size = 1});
  return bkr::messaging::postgres::log_admin(pool).peek(queue, 1'000'000);
}

/// The highest attempt count of any message waiting on `queue` (0 when empty).
long max_attempt(const std::string& conninfo, const std::string& queue) {
  long most = 0;
  for (const auto& w : waiting_on(conninfo, queue))
    most = std::max(most, static_cast<long>(w.message.attempt));
  return most;
}

/// Attempts spent so far by the messages waiting on `queue`. A batch in flight has written nothing yet:
/// its attempts count at settlement (a postponed message gives its attempt back there).
struct attempt_count {
  long spent = 0;
  long waiting = 0;
};
attempt_count attempts(const std::string& conninfo, const std::string& queue) {
  attempt_count a;
  for (const auto& w : waiting_on(conninfo, queue)) {
    a.spent += w.message.attempt;
    ++a.waiting;
  }
  return a;
}

constexpr std::chrono::seconds breaker_open_for{5};  // the workers' default breaker.open_for

}  // namespace

TEST_CASE("dependencies: interface and job service away for 30 s each, breakers open, no attempt burnt",
          "[fault][dependencies]") {
  const auto sc = scale::from_environment();
  const int requests = sc.requests_or(6000);
  const auto outage = sc.outage_or(30s);

  pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("fault-dependencies");
  write_jobs_file(dir / "jobs.json");
  const auto api_port = free_port();
  const auto jobs_port = free_port();
  const auto intake_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  auto& check = apps.at(2);
  auto& send = apps.at(3);
  auto& interface = apps.at(5);
  REQUIRE(check.name == "bkr-check-allowed");
  REQUIRE(send.name == "bkr-send-to-interface");
  REQUIRE(interface.name == "bkr-fake-backup-interface");
  check.env["BKR_JOB_SERVICE_MODE"] = "http";
  check.env["BKR_JOB_SERVICE_URL"] = "http://127.0.0.1:" + std::to_string(jobs_port);
  send.env["BKR_INTERFACE_MODE"] = "http";
  send.env["BKR_INTERFACE_URL"] = "http://127.0.0.1:" + std::to_string(intake_port);
  interface.env["BKR_HTTP_ENABLED"] = "true";
  interface.env["BKR_HTTP_PORT"] = std::to_string(intake_port);
  apps.push_back(fake_job_service_app(jobs_port, (dir / "jobs.json").string()));
  stack processes(apps, dir);
  processes.start_all();
  processes.require_ready(60s);
  const auto token = mint_token(db.conninfo());
  const auto check_ops = processes.at(2).ops_port;
  const auto send_ops = processes.at(3).ops_port;
  const auto interface_index = processes.index("bkr-fake-backup-interface");
  const auto jobs_ops = processes.at(processes.index("bkr-fake-backup-job-service")).ops_port;

  // The interface goes away first, the job service half an outage later (so that the allowed queue still
  // fills while the interface is away); each stays away for `outage`. The load runs before, through and
  // after.
  const auto load_time = outage * 5 / 2;
  const double rate = requests / std::chrono::duration<double>(load_time).count();
  const auto started = std::chrono::steady_clock::now();
  supervisor watch(processes, {.restart_delay = 1s});
  load_run load({.api_port = api_port,
                 .token = token,
                 .count = requests,
                 .threads = 4,
                 .rate = rate,
                 .key_prefix = "deps",
                 .deadline = load_time + 5min,
                 .job_of = job_mix});
  REQUIRE(eventually([&] { return load.progress() >= requests / 5; }, 2min, 100ms));

  // The interface hangs: stopped, its intake accepts connections but never answers (calls time out).
  const auto interface_away = std::chrono::steady_clock::now();
  watch.hold(interface_index, true);
  processes.signal(interface_index, SIGSTOP);
  std::string send_failing;
  const bool send_open = eventually(
      [&] {
        send_failing = failing_checks(send_ops);
        return send_failing.find("breaker:backup-interface") != std::string::npos;
      },
      20s, 100ms);
  CHECK(send_open);
  const auto send_gauge =
      metric_value(metrics_text(send_ops), "bkr_breaker_state{breaker=\"backup-interface\"}");
  CHECK(send_gauge.value_or(0) >= 1);  // 2 open, 1 half-open while a probe is out
  // From here on only probes make calls: one message each. The batch whose calls opened the circuit writes
  // their attempts when it settles, after its last call timed out: the count starts once it has settled
  // (unchanged for a second; a probe in that second only makes the bound below looser).
  auto allowed_at_open = attempts(db.conninfo(), "backup-request.allowed");
  const bool settled = eventually(
      [&] {
        std::this_thread::sleep_for(1s);
        const auto now = attempts(db.conninfo(), "backup-request.allowed");
        const bool same = now.spent == allowed_at_open.spent;
        allowed_at_open = now;
        return same;
      },
      20s, 0ms);
  CHECK(settled);

  // Half an outage later the job service refuses connections (its own outage switch).
  long dead_during = 0, max_received_attempt = 0, max_allowed_attempt = 0;
  auto watch_attempts = [&](std::chrono::steady_clock::time_point until) {
    while (std::chrono::steady_clock::now() < until) {
      dead_during = std::max(dead_during, static_cast<long>(dead_letters(db.conninfo()).size()));
      max_received_attempt =
          std::max(max_received_attempt, max_attempt(db.conninfo(), "backup-request.received"));
      max_allowed_attempt =
          std::max(max_allowed_attempt, max_attempt(db.conninfo(), "backup-request.allowed"));
      std::this_thread::sleep_for(500ms);
    }
  };
  watch_attempts(interface_away + outage / 2);
  const auto jobs_away = std::chrono::steady_clock::now();
  const auto set =
      bkr::rr_test::http_call(jobs_port, "POST", "/admin/outage", {{"Content-Type", "application/json"}},
                              nlohmann::json{{"seconds", outage.count()}, {"mode", "refuse"}}.dump());
  REQUIRE(set.status == 202);
  std::string check_failing;
  const bool check_open = eventually(
      [&] {
        check_failing = failing_checks(check_ops);
        return check_failing.find("breaker:job-service") != std::string::npos;
      },
      20s, 100ms);
  CHECK(check_open);
  const auto check_gauge =
      metric_value(metrics_text(check_ops), "bkr_breaker_state{breaker=\"job-service\"}");
  CHECK(check_gauge.value_or(0) >= 1);
  CHECK_FALSE(ready(jobs_ops));

  // Until the interface is back: no dead letter, and while its circuit is open the messages waiting for it
  // spend no attempts, except the one each probe carries.
  watch_attempts(interface_away + outage);
  const long probes_at_most = outage / breaker_open_for + 1;
  const auto allowed_at_end = attempts(db.conninfo(), "backup-request.allowed");
  const long spent_while_open = allowed_at_end.spent - allowed_at_open.spent;
  const long allowed_waiting = allowed_at_end.waiting;
  processes.signal(interface_index, SIGCONT);
  watch.hold(interface_index, false);
  watch_attempts(jobs_away + outage);
  const auto outage_ends = std::chrono::steady_clock::now();

  // Back: the breakers close by themselves (a probe succeeds) and the workers are ready again.
  CHECK(eventually([&] { return ready(check_ops) && ready(send_ops); }, 60s, 200ms));
  const auto recovered_after = seconds_since(outage_ends);

  const auto& submitted = load.result();
  std::map<std::string, std::string> accepted;
  for (const auto& a : submitted.accepted)
    accepted[a.id] = a.job;
  CHECK(submitted.given_up == 0);
  const auto report = settle_and_check(db.conninfo(), accepted, 4min);
  watch.stop();
  const auto dead = dead_letters(db.conninfo());
  const auto unexpected = watch.unexpected_exits();
  INFO(report.summary() << "\n" << report.example);
  INFO("readyz while away: check-allowed " << check_failing << ", send-to-interface " << send_failing);
  INFO(describe(dead, unexpected));

  print_summary("dependencies", "requests=" + std::to_string(requests) + " " + report.summary() +
                                    " outage_seconds=" + std::to_string(outage.count()) +
                                    " breakers_opened=" + std::to_string(int{check_open} + int{send_open}) +
                                    " dead_letters_during_outage=" + std::to_string(dead_during) +
                                    " max_attempt_received=" + std::to_string(max_received_attempt) +
                                    " max_attempt_allowed=" + std::to_string(max_allowed_attempt) +
                                    " allowed_waiting=" + std::to_string(allowed_waiting) +
                                    " allowed_spent_while_open=" + std::to_string(spent_while_open) +
                                    " ready_again_after=" + recovered_after + "s unexpected_exits=" +
                                    std::to_string(unexpected.size()) + " seconds=" + seconds_since(started));

  CHECK(dead_during == 0);
  CHECK(allowed_waiting > 100);  // the check below has something to look at
  CHECK(spent_while_open <= probes_at_most);
  check_invariants(report, requests);
  CHECK(dead.empty());
  CHECK(unexpected.empty());

  stop_cleanly(processes, dir);
}
