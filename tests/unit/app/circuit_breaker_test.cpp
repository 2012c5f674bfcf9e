// The circuit breaker's state machine against a manual clock.
#include "bkr/app/circuit_breaker.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using bkr::app::breaker_options;
using bkr::app::breaker_state;
using bkr::app::circuit_breaker;

namespace {

bkr::timestamp t0() {
  return bkr::timestamp{std::chrono::milliseconds{1'700'000'000'000}};
}

}  // namespace

TEST_CASE("a closed breaker opens after the threshold of consecutive failures", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("jobs", breaker_options{3, 5000ms}, clock);
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.allow());
  b.record_failure();
  b.record_failure();
  CHECK(b.state() == breaker_state::closed);
  b.record_success();  // resets the count
  b.record_failure();
  b.record_failure();
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.may_claim());
  b.record_failure();
  CHECK(b.state() == breaker_state::open);
  CHECK_FALSE(b.may_claim());
  CHECK_FALSE(b.allow());
  CHECK(b.remaining_open() == 5000ms);
  clock.advance(4999ms);
  CHECK_FALSE(b.allow());
  CHECK(b.remaining_open() == 1ms);
}

TEST_CASE("after the open period one probe may go and its success closes the circuit", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("jobs", breaker_options{1, 1000ms}, clock);
  std::vector<breaker_state> seen;
  b.on_state_change([&](breaker_state s) { seen.push_back(s); });
  b.record_failure();
  clock.advance(1000ms);
  CHECK(b.state() == breaker_state::half_open);
  CHECK(b.may_claim());
  CHECK(b.remaining_open() == 0ms);
  CHECK(b.allow());        // the probe
  CHECK_FALSE(b.allow());  // nobody else while it is in flight
  b.record_success();
  CHECK(b.state() == breaker_state::closed);
  CHECK(b.allow());
  CHECK(b.allow());
  CHECK(seen == std::vector{breaker_state::open, breaker_state::half_open, breaker_state::closed});
}

TEST_CASE("a failed probe opens the circuit for another period", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("interface", breaker_options{2, 1000ms}, clock);
  b.record_failure();
  b.record_failure();
  clock.advance(1500ms);
  REQUIRE(b.allow());
  b.record_failure();  // one failure is enough in half-open
  CHECK(b.state() == breaker_state::open);
  CHECK(b.remaining_open() == 1000ms);
  clock.advance(999ms);
  CHECK_FALSE(b.allow());
  clock.advance(1ms);
  CHECK(b.allow());
}

TEST_CASE("a probe that never reports is taken as lost after one open period", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("jobs", breaker_options{1, 1000ms}, clock);
  b.record_failure();
  clock.advance(1000ms);
  REQUIRE(b.allow());
  clock.advance(999ms);
  CHECK_FALSE(b.allow());
  clock.advance(1ms);
  CHECK(b.allow());
}

TEST_CASE("a late success from before the circuit opened does not close it", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("jobs", breaker_options{1, 1000ms}, clock);
  b.record_failure();
  b.record_success();
  CHECK(b.state() == breaker_state::open);
  CHECK(b.to_json()["state"] == "open");
  CHECK(b.to_json()["retryInMs"] == 1000);
}

TEST_CASE("invalid options are refused", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  CHECK_THROWS_AS(circuit_breaker("x", breaker_options{0, 1000ms}, clock), std::invalid_argument);
  CHECK_THROWS_AS(circuit_breaker("x", breaker_options{1, -1ms}, clock), std::invalid_argument);
}

TEST_CASE("concurrent callers see exactly one probe in half-open", "[app][breaker]") {
  bkr::manual_clock clock(t0());
  circuit_breaker b("jobs", breaker_options{1, 1000ms}, clock);
  b.record_failure();
  clock.advance(1000ms);
  std::atomic<int> allowed{0};
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&] {
      for (int j = 0; j < 1000; ++j)
        if (b.allow())
          ++allowed;
    });
  for (auto& t : threads)
    t.join();
  CHECK(allowed == 1);
  CHECK(b.state() == breaker_state::half_open);
}
