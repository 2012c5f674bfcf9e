// Test services: seeded clients, the JWKS file, in-process runs and the real binary as a child process.
#include "service_fixture.hpp"

#include "tokens.hpp"

#include "bkr/common/config.hpp"
#include "bkr/common/log.hpp"
#include "bkr/storage/client_authorization_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

extern char** environ;

namespace bkr::rr_test {
namespace {

/// A folder for this test process's JWKS file and service logs, removed when the process exits.
struct process_folder {
  std::string path = "/tmp/bkr-rr-test-" + std::to_string(::getpid());
  process_folder() { ::mkdir(path.c_str(), 0700); }
  ~process_folder() {
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

std::string temp_folder() {
  static const process_folder folder;
  return folder.path;
}

std::string build_dir() {
  const char* dir = std::getenv("BKR_BUILD_DIR");
  if (dir == nullptr)
    throw std::runtime_error("BKR_BUILD_DIR is not set");
  return dir;
}

}  // namespace

void seed_clients(const std::string& conninfo) {
  storage::connection_pool pool({.conninfo = conninfo, .size = 1});
  storage::unit_of_work uow(pool);
  const storage::client_authorization_repository clients;
  clients.upsert(uow, client_a, {"post-backup-request", "get-backup-request"});
  clients.upsert(uow, client_b, {"post-backup-request", "get-backup-request"});
  clients.upsert(uow, admin_client, {"get-backup-request", "admin"});
  clients.upsert(uow, reader_client, {"get-backup-request"});
  clients.upsert(uow, interface_client, {"post-store-status"});
  uow.commit();
}

const std::string& jwks_file() {
  static const std::string path = [] {
    const std::string p = temp_folder() + "/jwks.json";
    std::ofstream out(p);
    out << jwks_document({&rsa_key(), &ec_key()});
    return p;
  }();
  return path;
}

std::map<std::string, std::string> service_environment(const std::string& conninfo) {
  return {{"BKR_DATABASE_URL", conninfo},
          {"BKR_DATABASE_POOL_SIZE", "6"},
          {"BKR_DATABASE_HEALTH_INTERVAL", "200ms"},
          {"BKR_HTTP_PORT", "0"},
          {"BKR_OPS_PORT", "0"},
          {"BKR_AUTH_ALGORITHMS", "RS256,ES256"},
          {"BKR_AUTH_JWKS_FILE", jwks_file()},
          {"BKR_AUTH_ISSUERS", std::string(test_issuer)},
          {"BKR_AUTH_AUDIENCE", std::string(test_audience)},
          {"BKR_AUTH_LEEWAY", "5s"},
          {"BKR_LOG_LEVEL", "warn"},
          {"BKR_DRAIN_DEADLINE", "5s"}};
}

std::string token_for(std::string_view subject) {
  return signed_token(rsa_key(), claims_for(subject));
}

in_process_service::in_process_service(const std::string& conninfo,
                                       std::map<std::string, std::string> overrides) {
  auto env = service_environment(conninfo);
  for (auto& [k, v] : overrides)
    env[k] = v;
  config::sources src;
  for (auto& [k, v] : env)
    src.environment[k] = v;
  auto values = config::load(receive_request::config_keys(), src);
  if (!values)
    FAIL("test configuration refused: " << values.error().message);
  auto s = receive_request::settings_from(*values);
  if (!s)
    FAIL("test settings refused: " << s.error().message);
  bkr::logger log("receive-request", s->log_level);
  service_ = std::make_unique<receive_request::service>(std::move(*s), log, clock_);
  service_->start();
}

in_process_service::~in_process_service() {
  service_->stop();
}

// ---- the real binary ----

service_process::service_process(const std::map<std::string, std::string>& env,
                                 std::chrono::milliseconds timeout) {
  static int counter = 0;
  log_path_ = temp_folder() + "/service-" + std::to_string(++counter) + ".log";
  const std::string exe = build_dir() + "/services/receive-request/bkr-receive-request";

  std::map<std::string, std::string> merged;
  for (char** e = environ; *e != nullptr; ++e) {
    const std::string kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string::npos)
      merged[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env)
    merged[k] = v;
  // The start line (with the ports) is logged at info.
  merged["BKR_LOG_LEVEL"] = std::string("info");
  // Sanitized builds: libpqxx's own leak on broken connections (the Postgres outage test) is not ours.
  merged["LSAN_OPTIONS"] =
      std::string("suppressions=") + std::getenv("BKR_SOURCE_DIR") + "/tests/e2e/receive_request/lsan.supp";
  std::vector<std::string> env_strings;
  for (const auto& [k, v] : merged)
    env_strings.push_back(k + "=" + v);
  std::vector<char*> envp;
  for (auto& s : env_strings)
    envp.push_back(s.data());
  envp.push_back(nullptr);
  std::string arg0 = exe;
  char* argv[] = {arg0.data(), nullptr};

  const int out = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  REQUIRE(out >= 0);
  pid_ = ::fork();
  REQUIRE(pid_ >= 0);
  if (pid_ == 0) {
    ::dup2(out, 1);
    ::dup2(out, 2);
    // Signals blocked by the test runner's threads must not stay blocked in the service.
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::execve(exe.c_str(), argv, envp.data());
    ::_exit(127);
  }
  ::close(out);

  const auto started = wait_for_log("receive-request started", timeout);
  if (!started) {
    // FAIL throws from the constructor, so the destructor will not run: stop the child here.
    auto code = wait_exit(std::chrono::milliseconds{0});
    if (!code) {
      ::kill(pid_, SIGKILL);
      code = wait_exit(std::chrono::seconds{10});
    }
    FAIL("bkr-receive-request did not start (exit " << (code ? std::to_string(*code) : "none") << "):\n"
                                                    << log());
  }
  port_ = started->at("httpPort").get<std::uint16_t>();
  ops_port_ = started->at("opsPort").get<std::uint16_t>();
}

service_process::~service_process() {
  if (!reaped_ && pid_ > 0) {
    ::kill(pid_, SIGKILL);
    int status = 0;
    ::waitpid(pid_, &status, 0);
  }
}

void service_process::signal(int sig) const {
  ::kill(pid_, sig);
}

std::optional<int> service_process::wait_exit(std::chrono::milliseconds timeout) {
  if (reaped_)
    return std::nullopt;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
      reaped_ = true;
      if (WIFEXITED(status))
        return WEXITSTATUS(status);
      return -WTERMSIG(status);
    }
    if (std::chrono::steady_clock::now() >= deadline)
      return std::nullopt;
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
}

std::string service_process::log() const {
  std::ifstream in(log_path_);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::optional<nlohmann::json> service_process::wait_for_log(const std::string& msg,
                                                            std::chrono::milliseconds timeout) const {
  std::optional<nlohmann::json> found;
  eventually(
      [&] {
        std::istringstream lines(log());
        for (std::string line; std::getline(lines, line);) {
          const auto j = nlohmann::json::parse(line, nullptr, false);
          if (j.is_object() && j.value("msg", "") == msg) {
            found = j;
            return true;
          }
        }
        // Stop waiting for a process that is gone.
        siginfo_t info{};
        return ::waitid(P_PID, static_cast<id_t>(pid_), &info, WEXITED | WNOHANG | WNOWAIT) == 0 &&
               info.si_pid == pid_;
      },
      timeout);
  return found;
}

double metric_value(const std::string& exposition, const std::string& sample) {
  std::istringstream lines(exposition);
  for (std::string line; std::getline(lines, line);) {
    if (line.starts_with(sample + " "))
      return std::stod(line.substr(sample.size() + 1));
  }
  return 0.0;
}

}  // namespace bkr::rr_test
