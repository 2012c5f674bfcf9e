// The worker executables as real processes: configuration handling, ops endpoints, work, graceful SIGTERM.
#include "app_fixture.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/http/client.hpp"
#include "process.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

using namespace bkr;
using namespace bkr::test;

namespace {

const std::vector<std::pair<std::string, std::string>> workers{
    {"create-request", "backup-request.accepted"},
    {"check-allowed", "backup-request.received"},
    {"send-to-interface", "backup-request.allowed"},
    {"receive-status", "backup-interface.store-status"},
};

std::string worker_path(const std::string& stage) {
  return built_executable("services/" + stage + "/bkr-" + stage);
}

/// A started child process with extra environment and stdout+stderr to a file; SIGKILLed if still running
/// when destroyed.
class child {
 public:
  child(const std::string& path, const std::map<std::string, std::string>& env)
      : log_(std::filesystem::temp_directory_path() / ("bkr-worker-" + new_uuid_v7() + ".log")) {
    std::vector<std::string> vars;
    for (char** e = environ; *e; ++e) {
      const std::string v(*e);
      if (!v.starts_with("BKR_") || v.starts_with("BKR_TEST_") || v.starts_with("BKR_BUILD_") ||
          v.starts_with("BKR_SOURCE_"))
        vars.push_back(v);
    }
    for (const auto& [k, v] : env)
      vars.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& v : vars)
      envp.push_back(v.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    std::string p = path;
    char* argv[] = {p.data(), nullptr};
    REQUIRE(posix_spawn(&pid_, path.c_str(), &actions, nullptr, argv, envp.data()) == 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~child() {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    std::error_code ec;
    std::filesystem::remove(log_, ec);
  }

  std::string output() const {
    std::ifstream in(log_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  /// The first log line whose msg is `msg`, parsed; null when none yet.
  nlohmann::json log_line(const std::string& msg) const {
    std::istringstream lines(output());
    std::string line;
    while (std::getline(lines, line)) {
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_object() && j.value("msg", "") == msg)
        return j;
    }
    return nullptr;
  }

  void signal(int sig) { kill(pid_, sig); }

  /// Waits for the exit; returns the exit code, or -1 when it did not exit normally in time.
  int wait_exit(std::chrono::milliseconds timeout) {
    int status = 0;
    const bool exited = eventually([&] { return waitpid(pid_, &status, WNOHANG) == pid_; }, timeout);
    if (!exited)
      return -1;
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

}  // namespace

TEST_CASE("every worker prints its keys with --help and refuses bad configuration", "[app][process]") {
  for (const auto& [stage, queue] : workers) {
    INFO(stage);
    const auto help = run_process({worker_path(stage), "--help"});
    CHECK(help.exit_code == 0);
    CHECK_THAT(help.out, Catch::Contains(queue));
    CHECK_THAT(help.out, Catch::Contains("BKR_DATABASE_URL"));
    const auto bad = run_process({worker_path(stage)},
                                 {{"BKR_DATABASE_URL", "host=127.0.0.1"}, {"BKR_CONSUMER_THREADS", "0"}});
    CHECK(bad.exit_code == 2);
    CHECK_THAT(bad.err, Catch::Contains("BKR_CONSUMER_THREADS"));
  }
  const auto missing = run_process({worker_path("check-allowed")}, {{"BKR_DATABASE_URL", std::nullopt}});
  CHECK(missing.exit_code == 2);
  CHECK_THAT(missing.err, Catch::Contains("BKR_DATABASE_URL"));
}

TEST_CASE("print-config shows the effective configuration with the database URL masked", "[app][process]") {
  const auto r =
      run_process({worker_path("receive-status"), "--print-config"},
                  {{"BKR_DATABASE_URL", "host=db password=hunter2"}, {"BKR_CONSUMER_BATCH_SIZE", "7"}});
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("hunter2") == std::string::npos);
  const auto shown = nlohmann::json::parse(r.out);
  CHECK(shown["database.url"] == "***");
  CHECK(shown["consumer.batch_size"] == 7);
  CHECK(shown["ops.port"] == 9084);
}

TEST_CASE("a worker process serves its ops endpoints and does its work and stops gracefully on SIGTERM",
          "[app][process]") {
  app_fixture f;
  child worker(worker_path("create-request"), {{"BKR_DATABASE_URL", f.conninfo()},
                                               {"BKR_OPS_PORT", "0"},
                                               {"BKR_OPS_STATS_INTERVAL", "100ms"},
                                               {"BKR_CONSUMER_POLL_MAX", "50ms"},
                                               {"BKR_RECOVERY_ENABLED", "false"},
                                               {"BKR_DRAIN_DEADLINE", "2s"}});
  REQUIRE(eventually([&] { return !worker.log_line("started").is_null(); }));
  const auto ops = worker.log_line("ops listener started");
  REQUIRE_FALSE(ops.is_null());
  const auto base = "http://127.0.0.1:" + std::to_string(ops["port"].get<int>());
  http::blocking_client client;
  CHECK(eventually([&] {
    auto r = client.get(base + "/readyz");
    return r.has_value() && r->status == 200;
  }));
  const auto live = client.get(base + "/livez");
  REQUIRE(live.has_value());
  CHECK(live->status == 200);

  const auto id = new_uuid_v7();
  f.publish(accepted_message(sample_accepted(id)));
  REQUIRE(eventually([&] {
    const auto r = f.request(id);
    return r && r->status_type_code == domain::request_status::received;
  }));
  CHECK(eventually([&] {
    auto m = client.get(base + "/metrics");
    return m.has_value() &&
           m->body.find("bkr_stage_messages_total{queue=\"backup-request.accepted\",result=\"commit\"} 1") !=
               std::string::npos &&
           m->body.find(
               "bkr_queue_settled_messages{queue=\"backup-request.accepted\",result=\"processed\"} 1") !=
               std::string::npos &&
           m->body.find("bkr_queue_messages{queue=\"backup-request.accepted\",state=\"ready\"} 0") !=
               std::string::npos;
  }));
  const auto health = client.get(base + "/healthz");
  REQUIRE(health.has_value());
  const auto h = nlohmann::json::parse(health->body);
  CHECK(h["service"] == "bkr-create-request");
  CHECK(h["stage"]["queue"] == "backup-request.accepted");
  REQUIRE(h["queues"].is_array());
  REQUIRE(h["queues"].size() == 1);
  CHECK(h["queues"][0]["queue"] == "backup-request.accepted");

  worker.signal(SIGTERM);
  CHECK(worker.wait_exit(10s) == 0);
  INFO(worker.output());
  CHECK_FALSE(worker.log_line("stop signal received").is_null());
  const auto stopped = worker.log_line("stopped");
  REQUIRE_FALSE(stopped.is_null());
  CHECK(stopped["processed"] == 1);
  CHECK(worker.output().find(f.conninfo()) == std::string::npos);  // the secret is never logged
}
