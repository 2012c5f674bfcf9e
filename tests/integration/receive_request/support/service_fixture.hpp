// Running bkr-receive-request for tests: in-process (the library) or as the real binary in a child process.
#pragma once

#include "bkr/receive_request/service.hpp"
#include "pg_test_database.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>

namespace bkr::rr_test {

/// Clients registered by seed_clients() (client_authorization) and their scopes.
inline constexpr const char* client_a = "client-a";           // post-backup-request, get-backup-request
inline constexpr const char* client_b = "client-b";           // post-backup-request, get-backup-request
inline constexpr const char* admin_client = "admin-client";   // get-backup-request, admin
inline constexpr const char* reader_client = "reader";        // get-backup-request only
inline constexpr const char* interface_client = "interface";  // post-store-status
inline constexpr const char* unknown_client = "stranger";     // not registered

/// Registers the clients above in the database `conninfo`.
void seed_clients(const std::string& conninfo);

/// A JWKS file (in a per-process temporary folder) publishing rsa_key() and ec_key().
const std::string& jwks_file();

/// The BKR_* settings of a test service on `conninfo`: ports chosen by the system, RS256/ES256 from
/// jwks_file(), issuer test_issuer, audience test_audience, log level warn, short drain deadline.
std::map<std::string, std::string> service_environment(const std::string& conninfo);

/// A valid RS256 token for `subject`.
std::string token_for(std::string_view subject);

/// The service library running in this process. Constructed and started in the constructor; stopped in
/// the destructor (or by stop()).
class in_process_service {
 public:
  explicit in_process_service(const std::string& conninfo, std::map<std::string, std::string> overrides = {});
  ~in_process_service();
  in_process_service(const in_process_service&) = delete;
  in_process_service& operator=(const in_process_service&) = delete;

  std::uint16_t port() const { return service_->api_port(); }
  std::uint16_t ops_port() const { return service_->ops_port(); }
  receive_request::service& service() { return *service_; }
  void stop() { service_->stop(); }

 private:
  bkr::system_clock clock_;
  std::unique_ptr<receive_request::service> service_;
};

/// A fresh database with the clients of seed_clients(), and the service in-process on it.
struct seeded_service {
  bkr::test::pg_test_database db;
  in_process_service svc{(seed_clients(db.conninfo()), db.conninfo())};
};

/// The real bkr-receive-request binary in a child process; stdout and stderr go to a log file. The
/// destructor kills (SIGKILL) and reaps it if it still runs.
class service_process {
 public:
  /// Starts $BKR_BUILD_DIR/services/receive-request/bkr-receive-request with the current environment plus
  /// `env` (log level forced to info: the start line carries the ports), and waits (up to `timeout`) for its
  /// "receive-request started" log line. Fails the test when the process exits or does not start in time.
  explicit service_process(const std::map<std::string, std::string>& env,
                           std::chrono::milliseconds timeout = std::chrono::seconds{30});
  ~service_process();
  service_process(const service_process&) = delete;
  service_process& operator=(const service_process&) = delete;

  pid_t pid() const { return pid_; }
  std::uint16_t port() const { return port_; }
  std::uint16_t ops_port() const { return ops_port_; }
  void signal(int sig) const;
  /// The exit code once the process exited, nullopt when it still runs after `timeout`; -N when killed by
  /// signal N.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  std::string log() const;
  /// The first JSON log line whose "msg" is `msg`, waiting up to `timeout`.
  std::optional<nlohmann::json> wait_for_log(const std::string& msg, std::chrono::milliseconds timeout) const;

 private:
  std::string log_path_;
  pid_t pid_ = -1;
  bool reaped_ = false;
  std::uint16_t port_ = 0;
  std::uint16_t ops_port_ = 0;
};

/// Polls `condition` every 20 ms until it holds or `timeout` passes; returns its last value.
template <class Fn>
bool eventually(Fn condition, std::chrono::milliseconds timeout = std::chrono::seconds{10}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return condition();
    std::this_thread::sleep_for(std::chrono::milliseconds{20});
  }
  return true;
}

/// The value of a sample in Prometheus text (`name{labels}` exactly as exposed), or 0 when absent.
double metric_value(const std::string& exposition, const std::string& sample);

}  // namespace bkr::rr_test
