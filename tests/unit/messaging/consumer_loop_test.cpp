// The backend-independent consumer loop with a scripted backend: when it claims again, and when it waits.
#include "bkr/messaging/consumer.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <stdexcept>
#include <thread>

using namespace std::chrono_literals;
using bkr::messaging::consumer_loop;

namespace {

/// Runs `script` for each batch (its argument: the call number, from 1); counts the calls.
class scripted_consumer final : public consumer_loop {
 public:
  using consumer_loop::batch_report;
  using script = std::function<batch_report(int call, scripted_consumer& self)>;
  scripted_consumer(bkr::messaging::consumer_options o, bkr::messaging::handler& h, script s)
      : consumer_loop(std::move(o), h), script_(std::move(s)) {}
  ~scripted_consumer() override { shutdown_now(); }
  std::atomic<int> calls{0};
  void claim_noted() { note_claim(); }

 protected:
  batch_report run_batch() override { return script_(++calls, *this); }
  void reap() override {}

 private:
  script script_;
};

bkr::messaging::function_handler nothing([](const auto&, auto&) {
  return bkr::messaging::handler_result::commit();
});

bkr::messaging::consumer_options slow_polling(std::chrono::milliseconds poll_min = 2s,
                                              std::chrono::milliseconds poll_max = 4s) {
  bkr::messaging::consumer_options o;
  o.queue = "test.loop";
  o.batch_size = 10;
  o.poll_min = poll_min;
  o.poll_max = poll_max;
  o.reap_interval = 1h;
  return o;
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!condition()) {
    if (std::chrono::steady_clock::now() >= until)
      return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

}  // namespace

TEST_CASE("a failing batch backs off even when hints arrived before it failed", "[messaging][loop]") {
  // The store is down: every batch fails before it could note a claim. Hints that came earlier must not
  // turn the backoff into a busy loop (which once flooded the log and hammered the server with connects).
  scripted_consumer c(slow_polling(200ms, 400ms), nothing,
                      [](int, scripted_consumer&) -> scripted_consumer::batch_report {
                        throw std::runtime_error("cannot connect to the database");
                      });
  for (int i = 0; i < 5; ++i)
    c.wake();
  c.start();
  std::this_thread::sleep_for(1s);
  c.stop(0ms);
  CHECK(c.calls >= 2);
  CHECK(c.calls <= 4);  // 1 s at one try per poll_max (400 ms), not thousands
}

TEST_CASE("after a batch that was not full only a hint newer than its claim brings the next claim forward",
          "[messaging][loop]") {
  std::atomic<bool> hint_during_claim{false};
  scripted_consumer c(slow_polling(), nothing, [&](int call, scripted_consumer& self) {
    self.claim_noted();
    if (call == 1) {
      // A hint that arrives after the claim started: it may announce a message the claim did not see.
      if (hint_during_claim)
        self.wake();
      return scripted_consumer::batch_report{3, {}};
    }
    return scripted_consumer::batch_report{0, {}};
  });
  SECTION("hints counted before the claim do not") {
    for (int i = 0; i < 5; ++i)
      c.wake();
    c.start();
    REQUIRE(wait_until([&] { return c.calls >= 1; }, 5s));
    // The next claim waits for a newer hint or poll_min (2 s).
    CHECK_FALSE(wait_until([&] { return c.calls >= 2; }, 500ms));
  }
  SECTION("a hint after the claim does") {
    hint_during_claim = true;
    c.start();
    CHECK(wait_until([&] { return c.calls >= 2; }, 1s));
  }
  c.stop(0ms);
}

TEST_CASE("a full batch is followed by the next claim at once", "[messaging][loop]") {
  scripted_consumer c(slow_polling(), nothing, [](int call, scripted_consumer& self) {
    self.claim_noted();
    return scripted_consumer::batch_report{call < 4 ? std::size_t{10} : std::size_t{0}, {}};
  });
  c.start();
  // Three full batches, each followed at once by the next claim, then the empty claim waits (2 s).
  REQUIRE(wait_until([&] { return c.calls >= 4; }, 1s));
  CHECK_FALSE(wait_until([&] { return c.calls >= 5; }, 300ms));
  c.stop(0ms);
}
