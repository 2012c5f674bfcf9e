// The whole pipeline as child processes, for the end-to-end and fault suites: ports, child processes, the
// executables and their settings, seeding, tokens, load over HTTP, and the invariants read from the database.
#pragma once

#include "http_call.hpp"
#include "process.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

namespace bkr::test {

/// The HS256 secret every stack's bkr-receive-request accepts (development tokens from `bkrctl token`).
inline constexpr const char* stack_hs256_secret = "e2e-pipeline-secret-0123456789abcdef";

/// A TCP port on 127.0.0.1 that nothing listened on a moment ago.
std::uint16_t free_port();

/// An empty folder under the temporary directory, named after `name` and this process.
std::filesystem::path scratch_dir(const std::string& name);

/// Polls `condition` every `step` until it is true or `timeout` passed; the last look decides.
template <class Fn>
bool eventually(Fn condition, std::chrono::milliseconds timeout,
                std::chrono::milliseconds step = std::chrono::milliseconds{50}) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= deadline)
      return condition();
    std::this_thread::sleep_for(step);
  }
  return true;
}

/// One executable in a child process, stdout and stderr to a log file (appended, so that a restarted
/// process keeps one log). The environment is the test's without its BKR_* variables, plus `env`.
/// The destructor kills (SIGKILL) and reaps a child that still runs. Not thread-safe: one owner at a time.
class child_process {
 public:
  child_process(const std::string& exe, const std::map<std::string, std::string>& env,
                const std::filesystem::path& log);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig) const;
  /// The exit status once the child exited (reaped at the first look): its exit code, or -N when killed by
  /// signal N; nullopt while it runs.
  std::optional<int> exit_status();
  bool running() { return !exit_status().has_value(); }
  /// Waits up to `timeout` for the exit; nullopt when it still runs.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  /// SIGINT, then the exit status (nullopt: still running after `timeout`; the destructor kills it).
  std::optional<int> stop(std::chrono::milliseconds timeout);
  /// SIGKILL and reap.
  void kill();
  std::string log() const;

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// What a stack starts: a unique name (also the log file's), the executable relative to the build
/// directory, its BKR_* settings and its ops port.
struct app {
  std::string name;
  std::string exe;
  std::map<std::string, std::string> env;
  std::uint16_t ops_port = 0;
};

/// The processes of one run, started from their app definitions; each can be killed and started again.
/// Owns its child processes (killed when it is destroyed). Thread-safe: a supervisor thread may kill and
/// restart while the test's thread reads logs or exit statuses.
class stack {
 public:
  stack(std::vector<app> apps, std::filesystem::path log_dir);
  ~stack();
  stack(const stack&) = delete;
  stack& operator=(const stack&) = delete;

  std::size_t size() const { return apps_.size(); }
  const app& at(std::size_t i) const { return apps_.at(i); }
  /// The index of the app named `name` (fails the test when there is none).
  std::size_t index(const std::string& name) const;

  /// Starts every app that does not run.
  void start_all();
  /// Starts app `i` (again); a process still running is left alone.
  void start(std::size_t i);
  /// Waits until every app answers /readyz 200; fails the test with the log of the first that does not.
  void require_ready(std::chrono::milliseconds timeout);
  void signal(std::size_t i, int sig);
  /// SIGKILL app `i` and reap it.
  void kill(std::size_t i);
  /// App `i`'s exit status when it exited (and was not started again), nullopt while it runs.
  std::optional<int> exit_status(std::size_t i);
  /// SIGINT to all, then each one's exit status (nullopt: did not exit within `timeout`).
  std::vector<std::optional<int>> stop_all(std::chrono::milliseconds timeout);
  std::string log(std::size_t i) const;

 private:
  std::vector<app> apps_;
  std::filesystem::path log_dir_;
  mutable std::mutex mutex_;
  std::vector<std::unique_ptr<child_process>> children_;
};

/// The six processes of the pipeline (bkr-receive-request with HS256 on `api_port`, the four workers, the
/// fake backup interface replying over the queue after 20 ms with its HTTP intake off) on `conninfo`, each
/// with its own free ops port, log level warn and a 5 s drain deadline.
std::vector<app> pipeline_apps(const std::string& conninfo, std::uint16_t api_port);

/// The fake backup job service on `http_port` serving the jobs of `jobs_file` (empty: its demo jobs).
app fake_job_service_app(std::uint16_t http_port, const std::string& jobs_file = {});

/// Gives `a` a new name and a fresh ops port (a second instance of the same executable).
app another_instance(app a, std::string name);

/// One process pm2 runs, from `pm2 jlist`.
struct pm2_process {
  std::string name;
  int pm_id = -1;
  pid_t pid = 0;  ///< 0 while not running
  std::string status;
  int exit_code = -999;  ///< -999 when pm2 reports none
  int restarts = 0;
};

/// pm2 with its state in a private PM2_HOME; kills its daemon when done.
class pm2_runner {
 public:
  pm2_runner(std::filesystem::path pm2, std::filesystem::path home);
  ~pm2_runner();
  pm2_runner(const pm2_runner&) = delete;
  pm2_runner& operator=(const pm2_runner&) = delete;

  /// Stops the daemon once; a later pm2 call would start a new one.
  void kill();
  process_result run(const std::vector<std::string>& args) const;
  /// Every process pm2 runs (one per instance).
  std::vector<pm2_process> processes() const;

 private:
  std::filesystem::path pm2_;
  std::filesystem::path home_;
  bool killed_ = false;
};

/// The project's pm2 (node_modules/.bin/pm2), installed with `npm ci` when missing; nullopt when neither it
/// nor npm is there (the caller skips).
std::optional<std::filesystem::path> project_pm2();

/// A pm2 configuration for `apps` (fork mode, restarted 500 ms after an exit, logs in `dir`), each app with
/// `instances_of(app)` instances.
nlohmann::json pm2_config(const std::vector<app>& apps, const std::filesystem::path& dir,
                          const std::function<int(const app&)>& instances_of = {});

/// Writes the jobs of seed() as a jobs file for bkr-fake-backup-job-service.
void write_jobs_file(const std::filesystem::path& path);

/// True when the ops listener on `ops_port` answers /readyz with 200.
bool ready(std::uint16_t ops_port);
/// GET /metrics of the ops listener (empty when it does not answer).
std::string metrics_text(std::uint16_t ops_port);
/// The value of one sample, e.g. `bkr_breaker_state{breaker="job-service"}`; nullopt when absent.
std::optional<double> metric_value(const std::string& text, const std::string& sample);

/// `bkrctl seed-demo` (jobs demo-local active, demo-inactive, demo-cloud-*, client demo-client) plus a
/// job `e2e-fail` whose requests the fake interface always fails.
void seed(const std::string& conninfo);

/// A development token from `bkrctl token --client <client>` signed with stack_hs256_secret.
std::string mint_token(const std::string& conninfo, const std::string& client = "demo-client");

/// The final status a request for each seeded job reaches: demo-local Succeeded, demo-inactive NotAllowed,
/// e2e-fail Failed.
const std::map<std::string, std::string>& expected_final_status();

/// POSTs `count` requests for `job` over `threads` keep-alive connections; every answer must be 202 (the
/// test fails otherwise). Returns the ids.
std::vector<std::string> submit(std::uint16_t api_port, const std::string& token, const std::string& job,
                                int count, int threads);

/// A load that survives a front door going away: every request has an Idempotency-Key and is posted again
/// with it (new connection, short pause) after a connection error or a 503 until it is answered 202 or the
/// deadline passes. `rate` (requests per second over all threads, 0: as fast as possible) spreads the run.
struct load_options {
  std::uint16_t api_port = 0;
  std::string token;
  int count = 0;
  int threads = 8;
  double rate = 0;
  std::string key_prefix = "load";
  std::chrono::milliseconds deadline{std::chrono::minutes{5}};
  std::chrono::milliseconds request_timeout{std::chrono::seconds{10}};
  /// The job of request i (e.g. a mix of the seeded jobs).
  std::function<std::string(int)> job_of;
  /// When not empty, only these request indexes are posted (e.g. a replay of some keys).
  std::vector<int> only;
};

struct load_result {
  struct accepted_request {
    int index = 0;
    std::string id;
    std::string job;
  };
  std::vector<accepted_request> accepted;  ///< one per request answered 202
  long posts = 0;                          ///< every POST sent, retries included
  long retried_requests = 0;               ///< requests that needed more than one POST
  std::vector<int> retried_indexes;        ///< their indexes
  long connection_errors = 0;
  std::map<unsigned, long> statuses;  ///< every answer by HTTP status
  long given_up = 0;                  ///< no 202 before the deadline
  std::string example_failure;
  double seconds = 0;
};

/// Runs a load in background threads from construction; result() waits for the end. Destroying it early
/// (a failed REQUIRE) stops the threads at their next request. Not copyable; progress() may be read while
/// it runs.
class load_run {
 public:
  explicit load_run(load_options options);
  ~load_run();
  load_run(const load_run&) = delete;
  load_run& operator=(const load_run&) = delete;

  /// Requests answered 202 so far.
  long progress() const { return answered_.load(); }
  bool done() const { return finished_.load() == static_cast<int>(threads_.size()); }
  /// Joins the threads and returns what happened.
  const load_result& result();

 private:
  void run_thread(int t);

  load_options options_;
  std::chrono::steady_clock::time_point started_;
  std::mutex mutex_;
  load_result result_;
  std::atomic<long> answered_{0};
  std::atomic<int> finished_{0};
  std::atomic<bool> abandoned_{false};
  std::vector<std::thread> threads_;
  bool joined_ = false;
};

/// Counts per final status of every backup_request row.
std::map<std::string, long> final_counts(const std::string& conninfo);
/// Requests in Succeeded, Failed or NotAllowed.
long finished(const std::string& conninfo);
/// Messages not consumed yet (ready, held back or delayed).
long queued_messages(const std::string& conninfo);

struct dead_letter {
  std::string message_id;
  std::string queue;
  std::string key;
  std::string reason;
  int attempts = 0;
};
std::vector<dead_letter> dead_letters(const std::string& conninfo);

/// What the database says about a run, for a list of requests answered 202.
struct invariant_report {
  long accepted = 0;               ///< distinct ids answered 202
  long missing = 0;                ///< answered 202, no backup_request row
  long not_final = 0;              ///< not Succeeded / Failed / NotAllowed
  long wrong_status = 0;           ///< final, but not the status its job leads to (when the job is known)
  long wrong_journeys = 0;         ///< history is not exactly the transitions of its final status, each once
  long duplicate_transitions = 0;  ///< (request, from, to) recorded more than once
  long double_backups = 0;         ///< requests with two Backups or more
  long backup_mismatches = 0;      ///< Succeeded without a Backup, or a Backup beside another status
  long unexpected_requests = 0;    ///< rows that no 202 announced (e.g. a retried POST that made a second)
  long leftover_messages = 0;      ///< messages not consumed yet
  long dead_letters = 0;           ///< rows in mq.dead_letters
  std::map<std::string, long> final_counts;
  std::string example;  ///< one offending row, for the failure message

  /// No request lost, stuck, doubled or off its path; queues drained. (Dead letters are judged by the test.)
  bool clean() const;
  /// `accepted=... lost=... duplicate_transitions=...`: the invariant part of a summary line.
  std::string summary() const;
};

/// Checks every invariant over `accepted` (id -> job; empty job: status not checked). Rows of
/// backup_request whose id is in `ignored` (e.g. requests a poison message created on purpose) are not
/// counted as unexpected.
invariant_report check_invariants(const std::string& conninfo,
                                  const std::map<std::string, std::string>& accepted,
                                  const std::vector<std::string>& ignored = {});

/// A Postgres cluster of one test, which it may stop and start (tests/support/private_pg.sh). Created,
/// started and migrated (database `bkr`) in the constructor; stopped and removed in the destructor. Not
/// thread-safe.
class private_cluster {
 public:
  explicit private_cluster(const std::string& name);
  ~private_cluster();
  private_cluster(const private_cluster&) = delete;
  private_cluster& operator=(const private_cluster&) = delete;

  const std::string& conninfo() const { return conninfo_; }
  /// pg_ctl stop -m `mode` (fast: clients disconnected, checkpoint; immediate: no checkpoint, crash
  /// recovery at the next start).
  void stop(const std::string& mode);
  void start();

 private:
  void run(const std::string& cmd, std::vector<std::string> extra = {});

  std::string dir_;
  std::string conninfo_;
};

}  // namespace bkr::test
