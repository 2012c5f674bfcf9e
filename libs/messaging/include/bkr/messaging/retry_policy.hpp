// Per-queue retry policy: maximum attempts and exponential backoff with full jitter and a cap. Pure.
#pragma once

#include <chrono>
#include <functional>
#include <optional>

namespace bkr::messaging {

/// Defaults follow ARCHITECTURE.md: 10 attempts, base 2 s, factor 2, cap 5 min. Value type.
struct retry_policy {
  int max_attempts = 10;
  std::chrono::milliseconds base{2000};
  double factor = 2.0;
  std::chrono::milliseconds cap{300000};
};

/// A source of uniform random numbers in [0, 1). Must be safe to call from the thread that owns it.
using random_source = std::function<double()>;

/// A thread-safe source backed by a per-thread Mersenne Twister seeded from std::random_device.
random_source default_random_source();

/// Upper bound of the wait after failed attempt `attempt` (1-based): min(cap, base * factor^(attempt-1)).
std::chrono::milliseconds backoff_ceiling(const retry_policy& policy, int attempt);

/// Full jitter: `unit` (in [0,1)) scaled onto [0, backoff_ceiling]. Spreads retries of many messages
/// that failed together, so an outage does not come back as a thundering herd.
std::chrono::milliseconds backoff_delay(const retry_policy& policy, int attempt, double unit);

/// What happens to a message whose attempt `attempt` asked for a retry.
struct retry_decision {
  bool dead_letter = false;            ///< attempts exhausted
  std::chrono::milliseconds delay{0};  ///< wait before the next attempt when not dead-lettered
};

/// `requested` (a handler's explicit delay, e.g. from Retry-After) wins over backoff but not over the cap.
retry_decision decide_retry(const retry_policy& policy, int attempt,
                            std::optional<std::chrono::milliseconds> requested, double unit);

}  // namespace bkr::messaging
