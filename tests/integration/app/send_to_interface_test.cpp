// SendToInterface against real Postgres with the queue adapter: Sent, the store request on the provider's
// queue, redeliveries, forbidden moves, races.
#include "bkr/app/send_to_interface.hpp"
#include "app_fixture.hpp"
#include "bkr/app/backup_interface.hpp"
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string allowed_queue(domain::allowed_message.queue);

struct send_stage {
  app_fixture& f;
  app::queue_backup_interface interface { f.clock(), "bkr-send-to-interface" };
  app::send_to_interface stage{f.pool(), f.requests, interface, f.clock()};
  app::stage_handler handler{stage};
};

}  // namespace

TEST_CASE("an allowed request is marked Sent and its store request is queued for its provider",
          "[app][send_to_interface]") {
  app_fixture f;
  send_stage s{f};
  const auto job = sample_job("job-b", domain::provider::cloud_b);
  const auto id = new_uuid_v7();
  const auto stored = sample_request(id, request_status::allowed, job);
  f.store_request(stored);
  auto in = allowed_message(id);
  in.message.trace_id = "trace-9";
  f.publish(in);

  REQUIRE(f.consume_until(allowed_queue, s.handler, [&] { return f.depth(allowed_queue) == 0; }));
  const auto r = f.request(id);
  CHECK(r->status_type_code == request_status::sent);
  CHECK(r->sent_to_interface_timestamp);
  const auto h = f.history(id);
  REQUIRE(h.size() == 2);
  CHECK(h[1].from_status == request_status::allowed);
  CHECK(h[1].to_status == request_status::sent);
  CHECK(h[1].stage == "send-to-interface");

  CHECK(f.queued("backup-interface.local.store-request").empty());
  const auto out = f.queued("backup-interface.cloud-b.store-request");
  REQUIRE(out.size() == 1);
  CHECK(out[0].message.type == "StoreRequest");
  CHECK(out[0].message.key == id);
  CHECK(out[0].message.trace_id == "trace-9");
  CHECK(out[0].message.producer == "bkr-send-to-interface");
  CHECK(out[0].message.payload == nlohmann::json(domain::make_store_request(stored).value()));
  CHECK(out[0].message.payload["backupProviderCode"] == "CloudB");
  CHECK(out[0].message.payload["storagePathName"] == job.storage_path_name);
}

TEST_CASE("a redelivered allowed message hands nothing over again", "[app][send_to_interface]") {
  app_fixture f;
  send_stage s{f};
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::allowed));
  for (int i = 0; i < 3; ++i) {
    auto m = allowed_message(id);
    f.publish(m);
    REQUIRE(f.consume_until(allowed_queue, s.handler, [&] { return f.depth(allowed_queue) == 0; }));
  }
  CHECK(f.dead_letters(allowed_queue).empty());
  CHECK(f.history(id).size() == 2);
  CHECK(f.queued("backup-interface.local.store-request").size() == 1);
}

TEST_CASE("an allowed message for a NotAllowed or unknown request is dead-lettered",
          "[app][send_to_interface]") {
  app_fixture f;
  send_stage s{f};
  const auto refused = new_uuid_v7(), unknown = new_uuid_v7();
  f.store_request(sample_request(refused, request_status::not_allowed));
  f.publish({allowed_message(refused), allowed_message(unknown)});
  REQUIRE(
      f.consume_until(allowed_queue, s.handler, [&] { return f.dead_letters(allowed_queue).size() == 2; }));
  for (const auto& d : f.dead_letters(allowed_queue)) {
    INFO(d.reason);
    CHECK(d.message.attempt == 1);
    if (d.message.key == refused)
      CHECK_THAT(d.reason, Catch::Contains("NotAllowed"));
    else
      CHECK(d.reason == "unknown backupRequestId " + unknown);
  }
  CHECK(f.request(refused)->status_type_code == request_status::not_allowed);
  CHECK(f.history(refused).size() == 1);
  CHECK(f.queued("backup-interface.local.store-request").empty());
}

TEST_CASE("two consumers racing over duplicated allowed messages send each request once",
          "[app][send_to_interface]") {
  app_fixture f;
  send_stage s{f};
  std::vector<std::string> ids;
  std::vector<messaging::outgoing_message> messages;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(new_uuid_v7());
    f.store_request(sample_request(ids.back(), request_status::allowed));
  }
  for (int copy = 0; copy < 3; ++copy)
    for (const auto& id : ids) {
      auto m = allowed_message(id);
      messages.push_back(m);
    }
  f.publish(messages);
  auto c1 = f.start_consumer(allowed_queue, s.handler);
  auto c2 = f.start_consumer(allowed_queue, s.handler);
  CHECK(eventually([&] { return f.depth(allowed_queue) == 0; }));
  c1->stop(5s);
  c2->stop(5s);
  CHECK(f.dead_letters(allowed_queue).empty());
  for (const auto& id : ids) {
    INFO(id);
    CHECK(f.history(id).size() == 2);
  }
  CHECK(f.queued("backup-interface.local.store-request").size() == ids.size());
}
