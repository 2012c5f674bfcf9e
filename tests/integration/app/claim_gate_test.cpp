// The claim gate against real Postgres: no claims while the circuit is open, consumption resumes by itself.
#include "bkr/app/claim_gate.hpp"
#include "app_fixture.hpp"
#include "bkr/app/circuit_breaker.hpp"
#include "bkr/app/create_request.hpp"
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

using namespace bkr;
using namespace bkr::test;

TEST_CASE("while the circuit is open the worker claims nothing and it resumes when a probe may go",
          "[app][claim_gate]") {
  app_fixture f;
  const std::string queue(domain::accepted_message.queue);
  app::create_request stage(f.requests, f.clock(), "bkr-create-request");
  app::stage_handler handler(stage);
  bkr::manual_clock clock(bkr::timestamp{std::chrono::milliseconds{1'700'000'000'000}});
  app::circuit_breaker breaker("jobs", app::breaker_options{1, std::chrono::minutes{1}}, clock);
  int made = 0;
  app::gated_consumer gate(
      [&] {
        ++made;
        return f.new_consumer(f.consumer_options(queue), handler);
      },
      [&] { return breaker.may_claim(); }, app::claim_gate_options{std::chrono::milliseconds{10}, 2s});
  breaker.on_state_change([&](app::breaker_state) { gate.poke(); });
  gate.start();
  REQUIRE(eventually([&] { return gate.claiming(); }));

  breaker.record_failure();  // the dependency is out
  REQUIRE(eventually([&] { return !gate.claiming(); }));
  const auto id = new_uuid_v7();
  f.publish(accepted_message(sample_accepted(id)));
  // Nothing runs the queue now: the message keeps all its attempts.
  CHECK(f.queued(queue).at(0).attempt == 0);
  CHECK(breaker.state() == app::breaker_state::open);

  clock.advance(std::chrono::minutes{1});  // a probe may go
  gate.poke();
  REQUIRE(eventually([&] { return gate.claiming(); }));
  CHECK(eventually([&] {
    const auto r = f.request(id);
    return r && r->status_type_code == domain::request_status::received;
  }));
  gate.stop(2s);
  CHECK_FALSE(gate.claiming());
  CHECK(made == 2);
  CHECK(gate.counts().processed >= 1);
}
