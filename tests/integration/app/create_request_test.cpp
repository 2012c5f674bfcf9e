// CreateRequest against real Postgres: persistence with history, the received message, redeliveries, bad
// input.
#include "bkr/app/create_request.hpp"
#include "app_fixture.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string accepted_queue(domain::accepted_message.queue);
const std::string received_queue(domain::received_message.queue);

struct create_stage {
  app_fixture& f;
  app::create_request stage{f.requests, f.clock(), "bkr-create-request"};
  app::stage_handler handler{stage};
};

}  // namespace

TEST_CASE("an accepted request is stored as Received with one history row and a received message",
          "[app][create_request]") {
  app_fixture f;
  create_stage s{f};
  const auto id = new_uuid_v7();
  const auto accepted = sample_accepted(id);
  const auto published = accepted_message(accepted, "trace-abc");
  f.publish(published);

  REQUIRE(f.consume_until(accepted_queue, s.handler, [&] { return f.depth(accepted_queue) == 0; }));

  const auto r = f.request(id);
  REQUIRE(r);
  CHECK(r->status_type_code == request_status::received);
  CHECK(r->backup_job_id == accepted.backup_job_id);
  CHECK(r->prepared_data_path_name == accepted.prepared_data_path_name);
  CHECK(r->requester_id == accepted.requester_id);
  CHECK(r->accepted_timestamp == accepted.accepted_timestamp);
  REQUIRE(r->received_timestamp);
  const auto h = f.history(id);
  REQUIRE(h.size() == 1);
  CHECK(h[0].from_status == request_status::accepted);
  CHECK(h[0].to_status == request_status::received);
  CHECK(h[0].stage == "create-request");
  CHECK(h[0].message_id == published.message.message_id);

  const auto next = f.queued(received_queue);
  REQUIRE(next.size() == 1);
  CHECK(next[0].message.type == "BackupRequestReceived");
  CHECK(next[0].message.key == id);
  CHECK(next[0].message.trace_id == "trace-abc");
  CHECK(next[0].message.producer == "bkr-create-request");
  CHECK(next[0].message.payload == nlohmann::json{{"backupRequestId", id}});
  CHECK(f.dead_letters(accepted_queue).empty());
}

TEST_CASE("the same accepted message handled twice makes one transition and one message",
          "[app][create_request]") {
  app_fixture f;
  create_stage s{f};
  const auto id = new_uuid_v7();
  const auto message = accepted_message(sample_accepted(id)).message;
  auto run = [&] {
    storage::unit_of_work uow(f.pool());
    messaging::postgres::log_publisher out(uow);
    auto r = s.stage.handle(uow, out, message);
    uow.commit();
    return r;
  };
  const auto first = run();
  REQUIRE(first.has_value());
  CHECK(*first == app::stage_outcome::applied);
  const auto second = run();
  REQUIRE(second.has_value());
  CHECK(*second == app::stage_outcome::already_done);
  CHECK(f.history(id).size() == 1);
  CHECK(f.queued(received_queue).size() == 1);
}

TEST_CASE("a redelivered accepted message is acknowledged without a second transition",
          "[app][create_request]") {
  app_fixture f;
  create_stage s{f};
  const auto id = new_uuid_v7();
  const auto first = accepted_message(sample_accepted(id));
  f.publish(first);
  REQUIRE(f.consume_until(accepted_queue, s.handler, [&] { return f.depth(accepted_queue) == 0; }));
  // The same content again under a new message id (as a producer retrying after a lost commit answer would).
  auto again = first;
  again.message.message_id = new_uuid_v7();
  f.publish(again);
  REQUIRE(f.consume_until(accepted_queue, s.handler, [&] { return f.depth(accepted_queue) == 0; }));

  CHECK(f.dead_letters(accepted_queue).empty());
  CHECK(f.history(id).size() == 1);
  CHECK(f.queued(received_queue).size() == 1);
  CHECK(f.request(id)->status_type_code == request_status::received);
}

TEST_CASE("a request stored as Accepted at intake moves with a compare-and-set", "[app][create_request]") {
  app_fixture f;
  create_stage s{f};
  const auto id = new_uuid_v7();
  const auto accepted = sample_accepted(id);
  f.store_request(domain::to_backup_request(accepted));
  f.publish(accepted_message(accepted));
  REQUIRE(f.consume_until(accepted_queue, s.handler, [&] { return f.depth(accepted_queue) == 0; }));
  const auto h = f.history(id);
  REQUIRE(h.size() == 2);
  CHECK(h[1].from_status == request_status::accepted);
  CHECK(h[1].to_status == request_status::received);
  CHECK(f.queued(received_queue).size() == 1);
}

TEST_CASE("a bad accepted payload or a foreign message type is dead-lettered with the reason",
          "[app][create_request]") {
  app_fixture f;
  create_stage s{f};
  const auto bad_id = new_uuid_v7();
  auto bad = accepted_message(sample_accepted(bad_id));
  bad.message.payload["dataDate"] = "2026-02-30";
  auto foreign = accepted_message(sample_accepted(new_uuid_v7()));
  foreign.message.type = "SomethingElse";
  f.publish({bad, foreign});

  REQUIRE(
      f.consume_until(accepted_queue, s.handler, [&] { return f.dead_letters(accepted_queue).size() == 2; }));
  for (const auto& d : f.dead_letters(accepted_queue)) {
    INFO(d.reason);
    if (d.message.message_id == bad.message.message_id) {
      CHECK_THAT(d.reason, Catch::Contains("dataDate"));
      CHECK(d.message.attempt == 1);  // permanent: not retried
    } else {
      CHECK_THAT(d.reason, Catch::Contains("unexpected message type 'SomethingElse'"));
    }
  }
  CHECK_FALSE(f.request(bad_id));
  CHECK(f.queued(received_queue).empty());
}
