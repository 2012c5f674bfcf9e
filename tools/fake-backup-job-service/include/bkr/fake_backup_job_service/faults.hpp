// Faults the fake job service injects: added latency, a share of 5xx answers, and outage windows.
#pragma once

#include "bkr/common/clock.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string_view>

namespace bkr::fake_backup_job_service {

/// What the job API does during an outage.
enum class outage_mode {
  unavailable,  ///< answers every job request 503 with Retry-After
  refuse,       ///< closes its listening socket: connections are refused until the outage ends
};
std::string_view to_string(outage_mode m);
std::optional<outage_mode> parse_outage_mode(std::string_view text);

struct outage {
  outage_mode mode = outage_mode::unavailable;
  timestamp until{};
};

/// Latency and error ratio, changeable at run time. Value type.
struct fault_settings {
  std::chrono::milliseconds latency{0};  ///< added before every job answer
  double error_ratio = 0.0;              ///< share of job requests answered 500, in [0, 1]
};

/// What to do with one job request.
enum class verdict { answer, injected_error, outage };

/// The fault state of one service. Thread-safe (a mutex; every call is short). The clock must outlive it.
///
/// The error ratio is spread evenly and deterministically: the n-th job request (counted from the last
/// change of the settings) fails when floor(n * ratio) > floor((n - 1) * ratio), computed exactly with the
/// ratio in millionths, so the first n requests hold exactly floor(n * ratio) failures and a test can count
/// on it.
class fault_injector {
 public:
  fault_injector(fault_settings initial, const bkr::clock& clock);

  fault_settings settings() const;
  /// Replaces the settings and restarts the error count.
  void set(fault_settings s);

  /// The verdict for the next job request: outage while one is on, else injected_error by the ratio, else
  /// answer.
  verdict next();

  void start_outage(outage_mode mode, std::chrono::milliseconds length);
  void end_outage();
  /// The outage in force now, if any (an expired one is forgotten).
  std::optional<outage> current_outage() const;

  /// `{latencyMs, errorRatio, outage: null | {mode, until, remainingMs}}`.
  nlohmann::json to_json() const;

 private:
  std::optional<outage> current_locked() const;

  const bkr::clock& clock_;
  mutable std::mutex mutex_;
  fault_settings settings_;
  std::uint64_t count_ = 0;
  mutable std::optional<outage> outage_;
};

}  // namespace bkr::fake_backup_job_service
