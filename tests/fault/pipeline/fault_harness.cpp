// Scale, supervisor, settling and summary lines of the fault scenarios.
#include "fault_harness.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <sstream>

using namespace std::chrono_literals;

namespace bkr::fault_test {
namespace {

std::optional<long> env_number(const char* name) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0')
    return std::nullopt;
  char* end = nullptr;
  const long n = std::strtol(v, &end, 10);
  if (end == v || *end != '\0' || n < 0)
    FAIL(name << " must be a non-negative integer, not '" << v << "'");
  return n;
}

}  // namespace

scale scale::from_environment() {
  scale s;
  if (const auto soak = env_number("BKR_FAULT_SOAK"); soak && *soak != 0) {
    s.soak = true;
    s.factor = 5;
  }
  if (const auto n = env_number("BKR_FAULT_REQUESTS"))
    s.requests = static_cast<int>(*n);
  if (const auto n = env_number("BKR_FAULT_KILLS"))
    s.kills = static_cast<int>(*n);
  if (const auto n = env_number("BKR_FAULT_OUTAGE_SECONDS"))
    s.outage_seconds = static_cast<int>(*n);
  if (const auto n = env_number("BKR_FAULT_SEED"))
    s.seed = static_cast<unsigned>(*n);
  return s;
}

int scale::requests_or(int base) const {
  return requests ? *requests : static_cast<int>(base * factor);
}

int scale::kills_or(int base) const {
  return kills ? *kills : static_cast<int>(base * factor);
}

std::chrono::seconds scale::outage_or(std::chrono::seconds base) const {
  if (outage_seconds)
    return std::chrono::seconds{*outage_seconds};
  return std::chrono::seconds{static_cast<long>(static_cast<double>(base.count()) * (soak ? 4 : 1))};
}

unsigned scale::random_seed() const {
  return seed ? *seed : std::random_device{}();
}

std::string job_mix(int i) {
  const int slot = i % 20;
  if (slot < 14)
    return "demo-local";
  if (slot < 17)
    return "demo-inactive";
  return "e2e-fail";
}

// ---- supervisor ----

supervisor::supervisor(test::stack& processes, options o)
    : processes_(processes),
      options_(std::move(o)),
      random_(options_.seed),
      held_(processes.size(), false),
      killed_by_us_(processes.size(), false),
      restart_at_(processes.size()) {
  thread_ = std::thread([this] { run(); });
}

supervisor::~supervisor() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
}

void supervisor::stop() {
  stopping_ = true;
  if (thread_.joinable())
    thread_.join();
  // Whatever the schedule took down last comes back before the test looks at the outcome.
  std::lock_guard lock(mutex_);
  for (std::size_t i = 0; i < processes_.size(); ++i) {
    if (held_[i])
      continue;
    if (processes_.exit_status(i)) {
      processes_.start(i);
      ++restarts_;
    }
  }
}

void supervisor::hold(std::size_t i, bool held) {
  std::lock_guard lock(mutex_);
  held_.at(i) = held;
  restart_at_.at(i).reset();
}

std::map<std::string, int> supervisor::kills_by_app() const {
  std::lock_guard lock(mutex_);
  return kills_by_app_;
}

std::vector<std::string> supervisor::unexpected_exits() const {
  std::lock_guard lock(mutex_);
  return unexpected_;
}

void supervisor::run() {
  using clock = std::chrono::steady_clock;
  std::vector<std::size_t> deck;
  auto next_interval = [&] {
    std::uniform_int_distribution<long> d(options_.kill_interval_min.count(),
                                          options_.kill_interval_max.count());
    return std::chrono::milliseconds{d(random_)};
  };
  auto next_kill = clock::now() + next_interval();
  while (!stopping_) {
    const auto now = clock::now();
    {
      std::lock_guard lock(mutex_);
      for (std::size_t i = 0; i < processes_.size(); ++i) {
        if (held_[i])
          continue;
        if (const auto status = processes_.exit_status(i)) {
          if (!restart_at_[i]) {
            if (!killed_by_us_[i])
              unexpected_.push_back(processes_.at(i).name + ": exit status " + std::to_string(*status));
            restart_at_[i] = now + options_.restart_delay;
          } else if (now >= *restart_at_[i]) {
            processes_.start(i);
            ++restarts_;
            restart_at_[i].reset();
            killed_by_us_[i] = false;
          }
        }
      }
      if (!options_.kill_targets.empty() && kills_ < options_.kills && now >= next_kill) {
        if (deck.empty()) {
          deck = options_.kill_targets;
          std::shuffle(deck.begin(), deck.end(), random_);
        }
        // A target still down from its last kill waits for the next turn.
        const auto i = deck.back();
        if (!held_[i] && !processes_.exit_status(i)) {
          deck.pop_back();
          killed_by_us_[i] = true;
          processes_.kill(i);
          ++kills_;
          ++kills_by_app_[processes_.at(i).name];
        }
        next_kill = now + next_interval();
      }
    }
    std::this_thread::sleep_for(20ms);
  }
}

// ---- settling and reporting ----

test::invariant_report settle_and_check(const std::string& conninfo,
                                        const std::map<std::string, std::string>& accepted,
                                        std::chrono::milliseconds timeout,
                                        const std::vector<std::string>& ignored) {
  const bool trace = std::getenv("BKR_FAULT_TRACE") != nullptr;
  const auto started = std::chrono::steady_clock::now();
  const auto settled = test::eventually(
      [&] {
        try {
          if (trace) {
            std::cerr << "settling t=" << seconds_since(started) << "s";
            for (const auto& [status, n] : test::final_counts(conninfo))
              std::cerr << " " << status << "=" << n;
            std::cerr << " queued=" << test::queued_messages(conninfo) << std::endl;
          }
          return test::finished(conninfo) >= static_cast<long>(accepted.size()) &&
                 test::queued_messages(conninfo) == 0;
        } catch (const std::exception&) {
          return false;
        }
      },
      timeout, 1s);
  (void)settled;  // the report says what did not settle
  return test::check_invariants(conninfo, accepted, ignored);
}

std::string describe(const std::vector<test::dead_letter>& dead, const std::vector<std::string>& exits) {
  std::ostringstream out;
  std::size_t shown = 0;
  for (const auto& d : dead) {
    if (++shown > 20) {
      out << "... " << dead.size() - 20 << " more dead letters\n";
      break;
    }
    out << "dead letter " << d.queue << " " << d.key << " (" << d.attempts << " attempts): " << d.reason
        << "\n";
  }
  for (const auto& e : exits)
    out << "exit not caused by the test: " << e << "\n";
  return out.str();
}

void print_summary(const std::string& scenario, const std::string& fields) {
  const std::string line = "FAULT scenario=" + scenario + " " + fields;
  std::cout << line << std::endl;
  if (const char* dir = std::getenv("BKR_BUILD_DIR"))
    std::ofstream(std::string(dir) + "/fault-summary.log", std::ios::app) << line << "\n";
}

std::string seconds_since(std::chrono::steady_clock::time_point since) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1)
      << std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
  return out.str();
}

void check_invariants(const test::invariant_report& report, int requests) {
  CHECK(report.clean());
  CHECK(report.accepted == requests);
  CHECK(report.missing == 0);
  CHECK(report.duplicate_transitions == 0);
  CHECK(report.double_backups == 0);
  CHECK(report.leftover_messages == 0);
}

void stop_cleanly(test::stack& processes, const std::filesystem::path& dir) {
  const auto codes = processes.stop_all(std::chrono::seconds{30});
  for (std::size_t i = 0; i < processes.size(); ++i) {
    INFO(processes.at(i).name);
    CHECK(codes[i] == std::optional<int>(0));
  }
  std::filesystem::remove_all(dir);
}

}  // namespace bkr::fault_test
