// Backoff arithmetic; the random source is injected so tests can pin it.
#include "bkr/messaging/retry_policy.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace bkr::messaging {

random_source default_random_source() {
  return [] {
    thread_local std::mt19937_64 engine{std::random_device{}()};
    return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
  };
}

std::chrono::milliseconds backoff_ceiling(const retry_policy& policy, int attempt) {
  const double cap = static_cast<double>(std::max<long long>(0, policy.cap.count()));
  const double base = static_cast<double>(std::max<long long>(0, policy.base.count()));
  const int exponent = std::max(0, attempt - 1);
  // pow may overflow to inf for large attempts; min() with the cap keeps the result finite.
  const double raw = base * std::pow(std::max(1.0, policy.factor), exponent);
  const double bounded = std::isfinite(raw) ? std::min(raw, cap) : cap;
  return std::chrono::milliseconds{static_cast<long long>(bounded)};
}

std::chrono::milliseconds backoff_delay(const retry_policy& policy, int attempt, double unit) {
  const double u = std::clamp(unit, 0.0, 1.0);
  const auto ceiling = backoff_ceiling(policy, attempt);
  return std::chrono::milliseconds{
      static_cast<long long>(std::floor(static_cast<double>(ceiling.count()) * u))};
}

retry_decision decide_retry(const retry_policy& policy, int attempt,
                            std::optional<std::chrono::milliseconds> requested, double unit) {
  if (attempt >= policy.max_attempts)
    return {true, std::chrono::milliseconds{0}};
  if (requested) {
    auto d = std::clamp(*requested, std::chrono::milliseconds{0},
                        std::max(policy.cap, std::chrono::milliseconds{0}));
    return {false, d};
  }
  return {false, backoff_delay(policy, attempt, unit)};
}

}  // namespace bkr::messaging
