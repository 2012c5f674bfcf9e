// The breaker's transitions; every decision is taken under one mutex against the injected clock.
#include "bkr/app/circuit_breaker.hpp"

#include <algorithm>
#include <optional>
#include <stdexcept>

namespace bkr::app {

std::string_view to_string(breaker_state s) {
  switch (s) {
    case breaker_state::closed:
      return "closed";
    case breaker_state::open:
      return "open";
    case breaker_state::half_open:
      return "half_open";
  }
  return "unknown";
}

circuit_breaker::circuit_breaker(std::string name, breaker_options options, const bkr::clock& clock)
    : name_(std::move(name)), options_(options), clock_(clock) {
  if (options_.failure_threshold < 1)
    throw std::invalid_argument("circuit breaker " + name_ + ": failure_threshold must be at least 1");
  if (options_.open_duration.count() < 0)
    throw std::invalid_argument("circuit breaker " + name_ + ": open_duration must not be negative");
}

breaker_state circuit_breaker::state_locked(timestamp now) const {
  if (state_ == breaker_state::open && now >= opened_at_ + options_.open_duration)
    return breaker_state::half_open;
  return state_;
}

bool circuit_breaker::allow() {
  std::optional<breaker_state> changed;
  bool allowed = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    const auto current = state_locked(now);
    if (current != state_) {  // the open period has passed
      state_ = current;
      probe_in_flight_ = false;
      changed = current;
    }
    switch (state_) {
      case breaker_state::closed:
        allowed = true;
        break;
      case breaker_state::open:
        allowed = false;
        break;
      case breaker_state::half_open:
        if (!probe_in_flight_ || now >= probe_started_ + options_.open_duration) {
          probe_in_flight_ = true;
          probe_started_ = now;
          allowed = true;
        }
        break;
    }
  }
  if (changed)
    notify(*changed);
  return allowed;
}

void circuit_breaker::record_success() {
  bool closed_now = false;
  {
    std::lock_guard lock(mutex_);
    failures_ = 0;
    probe_in_flight_ = false;
    // A success reported late, from a call allowed before the circuit opened, does not close it: only the
    // probe's answer (or one arriving once the open period has passed) may.
    if (state_locked(clock_.now()) != breaker_state::open && state_ != breaker_state::closed) {
      state_ = breaker_state::closed;
      closed_now = true;
    }
  }
  if (closed_now)
    notify(breaker_state::closed);
}

void circuit_breaker::record_failure() {
  bool opened_now = false;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    const auto current = state_locked(now);
    ++failures_;
    if (current == breaker_state::half_open ||
        (current == breaker_state::closed && failures_ >= options_.failure_threshold)) {
      state_ = breaker_state::open;
      opened_at_ = now;
      probe_in_flight_ = false;
      opened_now = true;
    }
  }
  if (opened_now)
    notify(breaker_state::open);
}

breaker_state circuit_breaker::state() const {
  std::lock_guard lock(mutex_);
  return state_locked(clock_.now());
}

std::chrono::milliseconds circuit_breaker::remaining_open() const {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  if (state_locked(now) != breaker_state::open)
    return std::chrono::milliseconds{0};
  return std::chrono::duration_cast<std::chrono::milliseconds>(opened_at_ + options_.open_duration - now);
}

int circuit_breaker::consecutive_failures() const {
  std::lock_guard lock(mutex_);
  return failures_;
}

void circuit_breaker::on_state_change(listener l) {
  std::lock_guard lock(mutex_);
  listeners_.push_back(std::move(l));
}

void circuit_breaker::notify(breaker_state s) {
  std::vector<listener> copy;
  {
    std::lock_guard lock(mutex_);
    copy = listeners_;
  }
  for (const auto& l : copy)
    l(s);
}

nlohmann::json circuit_breaker::to_json() const {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  const auto s = state_locked(now);
  long long retry_in = 0;
  if (s == breaker_state::open)
    retry_in =
        std::chrono::duration_cast<std::chrono::milliseconds>(opened_at_ + options_.open_duration - now)
            .count();
  return {{"state", to_string(s)}, {"consecutiveFailures", failures_}, {"retryInMs", retry_in}};
}

}  // namespace bkr::app
