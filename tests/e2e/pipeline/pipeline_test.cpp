// The real executables of the pipeline, started as child processes (and once under pm2) on a per-test
// database: every request reaches its final status once, through each transition exactly once.
#include "http_call.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <fcntl.h>
#include <netinet/in.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

constexpr const char* hs256_secret = "e2e-pipeline-secret-0123456789abcdef";

std::uint16_t free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  socklen_t len = sizeof addr;
  REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0);
  ::close(fd);
  return ntohs(addr.sin_port);
}

fs::path scratch_dir(const std::string& name) {
  auto dir = fs::temp_directory_path() / ("bkr-e2e-" + name + "-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

template <class Fn>
bool eventually(Fn condition, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return condition();
    }
    std::this_thread::sleep_for(50ms);
  }
  return true;
}

/// One executable in a child process, output to a log file. Stopped with SIGINT and reaped by stop();
/// the destructor kills (SIGKILL) and reaps a child that still runs. Not thread-safe.
class child {
 public:
  child(std::string exe, const std::map<std::string, std::string>& env, fs::path log) : log_(std::move(log)) {
    std::map<std::string, std::string> merged;
    for (char** e = environ; *e != nullptr; ++e) {
      const std::string kv(*e);
      if (const auto eq = kv.find('='); eq != std::string::npos && !kv.starts_with("BKR_")) {
        merged[kv.substr(0, eq)] = kv.substr(eq + 1);
      }
    }
    for (const auto& [k, v] : env) {
      merged[k] = v;
    }
    std::vector<std::string> strings;
    for (const auto& [k, v] : merged) {
      strings.push_back(k + "=" + v);
    }
    std::vector<char*> envp;
    for (auto& s : strings) {
      envp.push_back(s.data());
    }
    envp.push_back(nullptr);
    std::vector<char*> argv{exe.data(), nullptr};
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, log_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    const int rc = ::posix_spawn(&pid_, exe.c_str(), &actions, nullptr, argv.data(), envp.data());
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE(rc == 0);
  }
  ~child() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  child(const child&) = delete;
  child& operator=(const child&) = delete;

  /// SIGINT, then the exit code once it exited (nullopt: still running after `timeout`, then killed).
  std::optional<int> stop(std::chrono::milliseconds timeout) {
    ::kill(pid_, SIGINT);
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    return std::nullopt;
  }
  bool running() const {
    int status = 0;
    return pid_ > 0 && ::waitpid(pid_, &status, WNOHANG) == 0;
  }
  std::string log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  fs::path log_;
  pid_t pid_ = -1;
};

bool ready(std::uint16_t ops_port) {
  try {
    return bkr::rr_test::http_call(ops_port, "GET", "/readyz").status == 200;
  } catch (const std::exception&) {
    return false;
  }
}

struct app {
  std::string name;
  std::string exe;  // relative to the build directory
  std::map<std::string, std::string> env;
  std::uint16_t ops_port = 0;
};

/// The six processes on free ports against `conninfo`; the API port is api_port.
std::vector<app> pipeline_apps(const std::string& conninfo, std::uint16_t api_port) {
  const std::map<std::string, std::string> common{
      {"BKR_DATABASE_URL", conninfo}, {"BKR_LOG_LEVEL", "warn"}, {"BKR_DRAIN_DEADLINE", "5s"}};
  std::vector<app> apps{
      {"bkr-receive-request",
       "services/receive-request/bkr-receive-request",
       {{"BKR_HTTP_PORT", std::to_string(api_port)},
        {"BKR_AUTH_ALGORITHMS", "HS256"},
        {"BKR_AUTH_HS256_SECRET", hs256_secret}}},
      {"bkr-create-request", "services/create-request/bkr-create-request", {}},
      {"bkr-check-allowed", "services/check-allowed/bkr-check-allowed", {}},
      {"bkr-send-to-interface", "services/send-to-interface/bkr-send-to-interface", {}},
      {"bkr-receive-status", "services/receive-status/bkr-receive-status", {}},
      {"bkr-fake-backup-interface",
       "tools/fake-backup-interface/bkr-fake-backup-interface",
       {{"BKR_FAKE_REPLY_DELAY", "20ms"}, {"BKR_HTTP_ENABLED", "false"}}},
  };
  for (auto& a : apps) {
    a.ops_port = free_port();
    a.env.insert(common.begin(), common.end());
    a.env["BKR_OPS_PORT"] = std::to_string(a.ops_port);
  }
  return apps;
}

/// seed-demo (demo-local active, demo-inactive, demo-client) plus a job the fake interface always fails.
void seed(const std::string& conninfo) {
  const auto r = bkr::test::run_process({bkr::test::built_executable("tools/bkrctl/bkrctl"), "seed-demo"},
                                        {{"BKR_DATABASE_URL", conninfo}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  tx.exec_params(
      "INSERT INTO backup_job (backup_job_id, storage_path_name, backup_provider_code, days_to_keep, "
      "is_active, hold_flag) VALUES ($1, $2, $3, $4, $5, $6)",
      "e2e-fail", "local/e2e-fail", "Local", 7, true, false);
  tx.commit();
}

std::string mint_token(const std::string& conninfo) {
  const auto r = bkr::test::run_process(
      {bkr::test::built_executable("tools/bkrctl/bkrctl"), "token", "--client", "demo-client"},
      {{"BKR_DATABASE_URL", conninfo}, {"BKR_AUTH_HS256_SECRET", hs256_secret}});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto token = r.out;
  while (!token.empty() && (token.back() == '\n' || token.back() == ' ')) {
    token.pop_back();
  }
  return token;
}

/// POSTs `count` requests for `job` over `threads` keep-alive connections; returns their ids.
std::vector<std::string> submit(std::uint16_t api_port, const std::string& token, const std::string& job,
                                int count, int threads) {
  std::mutex m;
  std::vector<std::string> ids;
  std::vector<std::string> failures;
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      bkr::rr_test::http_connection conn(api_port);
      for (int i = t; i < count; i += threads) {
        const auto r = conn.request("POST", "/api/backup-requests", bkr::rr_test::json_headers(token),
                                    bkr::rr_test::accept_body(job, "/data/e2e-" + std::to_string(i)));
        std::lock_guard lock(m);
        if (r.status == 202) {
          ids.push_back(r.json().at("backupRequestId").get<std::string>());
        } else {
          failures.push_back(std::to_string(r.status) + " " + r.body);
        }
      }
    });
  }
  for (auto& w : workers) {
    w.join();
  }
  INFO((failures.empty() ? std::string{} : failures.front()));
  REQUIRE(failures.empty());
  return ids;
}

std::map<std::string, long> final_counts(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  std::map<std::string, long> counts;
  for (const auto& row : tx.exec("SELECT status_type_code, count(*) FROM backup_request GROUP BY 1")) {
    counts[row[0].as<std::string>()] = row[1].as<long>();
  }
  return counts;
}

long finished(const std::string& conninfo) {
  const auto counts = final_counts(conninfo);
  long n = 0;
  for (const auto* s : {"NotAllowed", "Succeeded", "Failed"}) {
    if (auto it = counts.find(s); it != counts.end()) {
      n += it->second;
    }
  }
  return n;
}

// Every request went through exactly the transitions of its final status, each once; the queues are empty
// and nothing was dead-lettered.
void check_journeys(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::read_transaction tx(c);
  const std::map<std::string, std::string> expected{
      {"Succeeded", "Accepted>Received,Received>Allowed,Allowed>Sent,Sent>Succeeded"},
      {"Failed", "Accepted>Received,Received>Allowed,Allowed>Sent,Sent>Failed"},
      {"NotAllowed", "Accepted>Received,Received>NotAllowed"},
  };
  const auto rows = tx.exec(
      "SELECT r.status_type_code, string_agg(h.from_status || '>' || h.to_status, ',' ORDER BY h.history_id) "
      "FROM backup_request r JOIN backup_request_history h USING (backup_request_id) "
      "GROUP BY r.backup_request_id, r.status_type_code");
  long wrong = 0;
  std::string example;
  for (const auto& row : rows) {
    const auto status = row[0].as<std::string>();
    const auto path = row[1].as<std::string>();
    if (!expected.contains(status) || expected.at(status) != path) {
      ++wrong;
      example = status + ": " + path;
    }
  }
  INFO(example);
  CHECK(wrong == 0);
  CHECK(tx.exec1("SELECT count(*) FROM mq.messages")[0].as<long>() == 0);
  CHECK(tx.exec1("SELECT count(*) FROM mq.dead_letters")[0].as<long>() == 0);
  CHECK(tx.exec1("SELECT count(*) FROM backup WHERE backup_request_id IN (SELECT backup_request_id FROM "
                 "backup_request WHERE status_type_code = 'Succeeded')")[0]
            .as<long>() == final_counts(conninfo)["Succeeded"]);
}

}  // namespace

TEST_CASE("1,000 requests through the real executables reach their final status, each transition once",
          "[pipeline][e2e]") {
  bkr::test::pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("pipeline");
  const auto api_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  std::vector<std::unique_ptr<child>> children;
  for (const auto& a : apps) {
    children.push_back(
        std::make_unique<child>(bkr::test::built_executable(a.exe), a.env, dir / (a.name + ".log")));
  }
  for (std::size_t i = 0; i < apps.size(); ++i) {
    INFO(apps[i].name << " log:\n" << children[i]->log());
    REQUIRE(eventually([&] { return ready(apps[i].ops_port); }, 30s));
  }
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
  CHECK(eventually(
      [&] {
        pqxx::connection c(db.conninfo());
        pqxx::read_transaction tx(c);
        return tx.exec1("SELECT count(*) FROM mq.messages")[0].as<long>() == 0;
      },
      10s));
  check_journeys(db.conninfo());

  for (std::size_t i = 0; i < apps.size(); ++i) {
    INFO(apps[i].name);
    const auto code = children[i]->stop(15s);
    REQUIRE(code.has_value());
    CHECK(*code == 0);
  }
  fs::remove_all(dir);
}

namespace {

/// pm2 with its state in a temporary PM2_HOME; kills its daemon when done.
class pm2_runner {
 public:
  pm2_runner(fs::path pm2, fs::path home) : pm2_(std::move(pm2)), home_(std::move(home)) {}
  ~pm2_runner() { kill(); }
  pm2_runner(const pm2_runner&) = delete;
  pm2_runner& operator=(const pm2_runner&) = delete;

  /// Stops the daemon once; a later pm2 call would start a new one.
  void kill() {
    if (!killed_) {
      killed_ = true;
      run({"kill"});
    }
  }
  bkr::test::process_result run(const std::vector<std::string>& args) const {
    std::vector<std::string> argv{pm2_.string()};
    argv.insert(argv.end(), args.begin(), args.end());
    return bkr::test::run_process(argv, {{"PM2_HOME", home_.string()}}, 60s);
  }
  /// name -> (status, exit code) from `pm2 jlist`.
  std::map<std::string, std::pair<std::string, int>> states() const {
    const auto r = run({"jlist"});
    std::map<std::string, std::pair<std::string, int>> out;
    const auto start = r.out.find('[');
    if (start == std::string::npos) {
      return out;
    }
    for (const auto& p : nlohmann::json::parse(r.out.substr(start))) {
      const auto& env = p.at("pm2_env");
      out[p.at("name")] = {env.at("status").get<std::string>(),
                           env.contains("exit_code") && env.at("exit_code").is_number()
                               ? env.at("exit_code").get<int>()
                               : -999};
    }
    return out;
  }

 private:
  fs::path pm2_;
  fs::path home_;
  bool killed_ = false;
};

}  // namespace

TEST_CASE("under pm2 a graceful stop loses no accepted request and every process exits 0",
          "[pipeline][e2e]") {
  const fs::path source = std::getenv("BKR_SOURCE_DIR");
  const auto pm2 = source / "node_modules/.bin/pm2";
  if (!fs::exists(pm2)) {
    if (bkr::test::run_process({"sh", "-c", "command -v npm"}).exit_code != 0) {
      SUCCEED("pm2 is not installed (node_modules/.bin/pm2) and npm is unavailable: skipped");
      return;
    }
    const auto r = bkr::test::run_process(
        {"sh", "-c", "cd \"$0\" && npm ci --no-audit --no-fund", source.string()}, {}, 300s);
    INFO(r.err);
    REQUIRE(fs::exists(pm2));
  }
  bkr::test::pg_test_database db;
  seed(db.conninfo());
  const auto dir = scratch_dir("pm2");
  const auto api_port = free_port();
  auto apps = pipeline_apps(db.conninfo(), api_port);
  // Replies take 2 s, so the stop below finds requests in the middle of their journey.
  apps.back().env["BKR_FAKE_REPLY_DELAY"] = "2s";

  // The generated pm2 configuration: the built executables, this test's database and ports.
  nlohmann::json config{{"apps", nlohmann::json::array()}};
  for (const auto& a : apps) {
    auto env = nlohmann::json(a.env);
    config["apps"].push_back({{"name", a.name},
                              {"script", bkr::test::built_executable(a.exe)},
                              {"interpreter", "none"},
                              {"exec_mode", "fork"},
                              {"instances", 1},
                              {"env", env},
                              {"kill_timeout", 15000},
                              {"autorestart", true},
                              {"restart_delay", 1000},
                              {"out_file", (dir / (a.name + ".out.log")).string()},
                              {"error_file", (dir / (a.name + ".err.log")).string()}});
  }
  const auto config_path = dir / "pm2.config.json";
  std::ofstream(config_path) << config.dump(2);

  pm2_runner runner(pm2, dir / "home");
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
  for (const auto& [name, state] : runner.states()) {
    INFO(name);
    CHECK(state.first == "stopped");
    CHECK(state.second == 0);
  }
  for (const auto& a : apps) {
    CHECK_FALSE(ready(a.ops_port));
  }
  CHECK(finished(db.conninfo()) < 300);

  const auto restarted = runner.run({"start", config_path.string()});
  REQUIRE(restarted.exit_code == 0);
  REQUIRE(eventually([&] { return finished(db.conninfo()) == 300; }, 60s));
  CHECK(final_counts(db.conninfo()).at("Succeeded") == 300);
  check_journeys(db.conninfo());
  for (const auto& [name, state] : runner.states()) {
    INFO(name);
    CHECK(state.first == "online");
  }
  runner.run({"delete", config_path.string()});
  runner.kill();
  fs::remove_all(dir);
}
