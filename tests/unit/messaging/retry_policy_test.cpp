// Backoff arithmetic: exponential growth, cap, full jitter bounds, attempt exhaustion.
#include "bkr/messaging/retry_policy.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono_literals;
using bkr::messaging::backoff_ceiling;
using bkr::messaging::backoff_delay;
using bkr::messaging::decide_retry;
using bkr::messaging::retry_policy;

TEST_CASE("backoff ceiling grows by the factor and stops at the cap", "[messaging][retry]") {
  retry_policy p;  // base 2 s, factor 2, cap 5 min
  CHECK(backoff_ceiling(p, 1) == 2000ms);
  CHECK(backoff_ceiling(p, 2) == 4000ms);
  CHECK(backoff_ceiling(p, 3) == 8000ms);
  CHECK(backoff_ceiling(p, 8) == 256000ms);
  CHECK(backoff_ceiling(p, 9) == 300000ms);
  CHECK(backoff_ceiling(p, 5000) == 300000ms);  // no overflow for absurd attempts
}

TEST_CASE("full jitter spreads delays between zero and the ceiling", "[messaging][retry]") {
  retry_policy p{10, 100ms, 3.0, 10000ms};
  CHECK(backoff_delay(p, 1, 0.0) == 0ms);
  CHECK(backoff_delay(p, 1, 0.5) == 50ms);
  CHECK(backoff_delay(p, 3, 0.999999) == 899ms);
  CHECK(backoff_delay(p, 2, 0.25) == 75ms);
  CHECK(backoff_delay(p, 20, 0.5) == 5000ms);
  // Out-of-range random values are clamped rather than trusted.
  CHECK(backoff_delay(p, 1, 7.0) == 100ms);
  CHECK(backoff_delay(p, 1, -1.0) == 0ms);
}

TEST_CASE("the default random source stays within the unit interval", "[messaging][retry]") {
  auto rnd = bkr::messaging::default_random_source();
  double lo = 1, hi = 0;
  for (int i = 0; i < 10000; ++i) {
    double u = rnd();
    REQUIRE(u >= 0.0);
    REQUIRE(u < 1.0);
    lo = std::min(lo, u);
    hi = std::max(hi, u);
  }
  CHECK(lo < 0.01);
  CHECK(hi > 0.99);
}

TEST_CASE("retry decision dead-letters once attempts are exhausted", "[messaging][retry]") {
  retry_policy p{3, 1000ms, 2.0, 60000ms};
  auto first = decide_retry(p, 1, std::nullopt, 0.5);
  CHECK_FALSE(first.dead_letter);
  CHECK(first.delay == 500ms);
  auto second = decide_retry(p, 2, std::nullopt, 1.0);
  CHECK_FALSE(second.dead_letter);
  CHECK(second.delay == 2000ms);
  CHECK(decide_retry(p, 3, std::nullopt, 0.5).dead_letter);
  CHECK(decide_retry(p, 4, 10ms, 0.5).dead_letter);
}

TEST_CASE("a handler's explicit delay wins over backoff but not over the cap", "[messaging][retry]") {
  retry_policy p{5, 1000ms, 2.0, 30000ms};
  CHECK(decide_retry(p, 1, 7000ms, 0.0).delay == 7000ms);
  CHECK(decide_retry(p, 1, 90000ms, 0.0).delay == 30000ms);
  CHECK(decide_retry(p, 1, -5ms, 0.0).delay == 0ms);
}
