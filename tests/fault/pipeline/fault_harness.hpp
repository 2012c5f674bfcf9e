// What the fault scenarios share: their scale (default, soak, overrides from the environment), a
// supervisor that restarts processes and kills them on a schedule, the job mix, and the summary line.
#pragma once

#include "stack.hpp"

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace bkr::fault_test {

/// The size of a run. Defaults keep the whole `fault` label within a few minutes on two cores;
/// BKR_FAULT_SOAK=1 multiplies requests, kills and outage lengths; BKR_FAULT_REQUESTS, BKR_FAULT_KILLS and
/// BKR_FAULT_OUTAGE_SECONDS set them exactly (tests/fault/README.md).
struct scale {
  bool soak = false;
  double factor = 1;                  ///< 5 when soaking
  std::optional<int> requests;        ///< BKR_FAULT_REQUESTS
  std::optional<int> kills;           ///< BKR_FAULT_KILLS
  std::optional<int> outage_seconds;  ///< BKR_FAULT_OUTAGE_SECONDS
  std::optional<unsigned> seed;       ///< BKR_FAULT_SEED (random otherwise; printed)

  static scale from_environment();
  /// `base` requests, scaled, or BKR_FAULT_REQUESTS.
  int requests_or(int base) const;
  int kills_or(int base) const;
  std::chrono::seconds outage_or(std::chrono::seconds base) const;
  unsigned random_seed() const;
};

/// 70% demo-local (Succeeded), 15% demo-inactive (NotAllowed), 15% e2e-fail (Failed), by index.
std::string job_mix(int i);

/// Watches a stack from its own thread. A process that exits is started again after `restart_delay`, as a
/// supervisor (pm2, systemd) would: exits the schedule caused are counted as kills, any other exit as an
/// unexpected exit (with its status). With a kill schedule it SIGKILLs the targets in shuffled rounds (each
/// target once per round) at random intervals. Apps on hold are neither restarted nor killed. Owns its
/// thread; the stack must outlive it. Thread-safe.
class supervisor {
 public:
  struct options {
    std::chrono::milliseconds restart_delay{300};
    std::vector<std::size_t> kill_targets;  ///< indexes into the stack; empty: no kills
    int kills = 0;
    std::chrono::milliseconds kill_interval_min{500};
    std::chrono::milliseconds kill_interval_max{1500};
    unsigned seed = 1;
  };

  supervisor(test::stack& processes, options o);
  ~supervisor();
  supervisor(const supervisor&) = delete;
  supervisor& operator=(const supervisor&) = delete;

  /// Ends the kill schedule and the thread; processes that are down are started again first.
  void stop();
  /// Neither restart nor kill app `i` while held (the test takes it down itself).
  void hold(std::size_t i, bool held);
  int kills() const { return kills_.load(); }
  bool kills_done() const { return kills_.load() >= options_.kills; }
  std::map<std::string, int> kills_by_app() const;
  /// "name: status" for every exit the schedule did not cause.
  std::vector<std::string> unexpected_exits() const;
  int restarts() const { return restarts_.load(); }

 private:
  void run();

  test::stack& processes_;
  options options_;
  std::mt19937 random_;
  mutable std::mutex mutex_;
  std::vector<bool> held_;
  std::vector<bool> killed_by_us_;
  std::vector<std::optional<std::chrono::steady_clock::time_point>> restart_at_;
  std::map<std::string, int> kills_by_app_;
  std::vector<std::string> unexpected_;
  std::atomic<int> kills_{0};
  std::atomic<int> restarts_{0};
  std::atomic<bool> stopping_{false};
  std::thread thread_;
};

/// The checks every scenario ends with (docs/RELIABILITY.md): every one of the `requests` answered 202 is
/// accounted for, none is missing, stuck, doubled or off its path, and the queues are drained.
void check_invariants(const test::invariant_report& report, int requests);

/// Stops every process of the stack with SIGINT and checks that each exits 0, then removes `dir`.
void stop_cleanly(test::stack& processes, const std::filesystem::path& dir);

/// Waits until every request in `accepted` is final and the queues are empty (or `timeout`), then checks
/// the invariants. Database errors while waiting count as "not yet".
test::invariant_report settle_and_check(const std::string& conninfo,
                                        const std::map<std::string, std::string>& accepted,
                                        std::chrono::milliseconds timeout,
                                        const std::vector<std::string>& ignored = {});

/// The dead letters (up to 20) and unexpected exits, one per line, for a failure message.
std::string describe(const std::vector<test::dead_letter>& dead, const std::vector<std::string>& exits);

/// Prints `FAULT scenario=<name> <fields>` on stdout and appends it to $BKR_BUILD_DIR/fault-summary.log.
void print_summary(const std::string& scenario, const std::string& fields);

/// Seconds since `since`, with one decimal.
std::string seconds_since(std::chrono::steady_clock::time_point since);

}  // namespace bkr::fault_test
