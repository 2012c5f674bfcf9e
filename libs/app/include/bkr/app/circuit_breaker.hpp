// A circuit breaker around one outside dependency: closed, open, half-open, with a single probe.
#pragma once

#include "bkr/common/clock.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::app {

enum class breaker_state { closed, open, half_open };
/// `closed`, `open`, `half_open`.
std::string_view to_string(breaker_state s);

struct breaker_options {
  int failure_threshold = 5;                      ///< consecutive failures that open the circuit (>= 1)
  std::chrono::milliseconds open_duration{5000};  ///< how long it stays open before one probe may go
};

/// Pure state machine over an injected clock; no I/O and no threads of its own.
///
/// - closed: every call may go; `failure_threshold` consecutive failures open it (a success resets the
///   count);
/// - open: no call may go until `open_duration` has passed; then it is half-open;
/// - half-open: one probe call may go (allow() returns true once); its success closes the circuit, its
///   failure opens it again for another `open_duration`. A probe not reported within `open_duration` is
///   taken as lost and another caller may probe.
///
/// Only transient failures of the dependency should be recorded as failures (timeouts, refused
/// connections, 5xx); an answer such as 404 is a success for the breaker. Workers stop claiming while
/// may_claim() is false (see claim_gate.hpp), so an outage does not burn the messages' attempts.
/// Thread-safe. Listeners are called without the lock held, from the thread whose call changed the state.
class circuit_breaker {
 public:
  using listener = std::function<void(breaker_state)>;

  circuit_breaker(std::string name, breaker_options options, const bkr::clock& clock);
  circuit_breaker(const circuit_breaker&) = delete;
  circuit_breaker& operator=(const circuit_breaker&) = delete;

  /// Whether a call may go out now; in half-open, true for the one probe.
  bool allow();
  void record_success();
  void record_failure();

  /// The state as of now: an open circuit whose open period has passed reads as half-open.
  breaker_state state() const;
  /// False only while open (half-open admits the probe, so consumption may resume to carry it).
  bool may_claim() const { return state() != breaker_state::open; }
  /// Time left until a probe may go; zero unless open.
  std::chrono::milliseconds remaining_open() const;
  int consecutive_failures() const;

  /// Called on every state change (closed -> open, open -> half_open, half_open -> closed | open).
  /// Register before the breaker is shared.
  void on_state_change(listener l);

  const std::string& name() const { return name_; }
  /// `{"state": ..., "consecutiveFailures": n, "retryInMs": m}` for /healthz.
  nlohmann::json to_json() const;

 private:
  breaker_state state_locked(timestamp now) const;
  void notify(breaker_state s);

  const std::string name_;
  const breaker_options options_;
  const bkr::clock& clock_;
  mutable std::mutex mutex_;
  breaker_state state_ = breaker_state::closed;  // as last moved; open may have become half-open by time
  int failures_ = 0;
  timestamp opened_at_{};
  bool probe_in_flight_ = false;
  timestamp probe_started_{};
  std::vector<listener> listeners_;
};

}  // namespace bkr::app
