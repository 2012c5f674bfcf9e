// The whole journey through the four stages with the queue interface adapter, validating every message
// against its JSON Schema (proto/messages) on the way.
#include "app_fixture.hpp"
#include "bkr/app/backup_interface.hpp"
#include "bkr/app/check_allowed.hpp"
#include "bkr/app/create_request.hpp"
#include "bkr/app/receive_status.hpp"
#include "bkr/app/send_to_interface.hpp"
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

/// Checks the envelope and the payload of every message waiting on `queue` against their schemas.
void require_valid_messages(app_fixture& f, const std::string& queue,
                            const domain::message_contract& contract, std::size_t expected) {
  const auto messages = f.queued(queue);
  REQUIRE(messages.size() == expected);
  for (const auto& m : messages) {
    const auto wire = messaging::to_json(m.message);
    INFO(wire.dump());
    CHECK(schema_errors("envelope.schema.json", wire).empty());
    CHECK(m.message.type == contract.type);
    CHECK(m.message.schema_version == contract.schema_version);
    CHECK(schema_errors(std::string(contract.schema_file), m.message.payload).empty());
  }
}

}  // namespace

TEST_CASE("accepted requests travel to Sent and a reply ends them Succeeded with valid messages throughout",
          "[app][pipeline]") {
  app_fixture f;
  const auto allowed_job = sample_job("job-ok", domain::provider::cloud_a);
  f.store_job(allowed_job);
  const std::string producer_prefix = "bkr-";
  app::local_backup_job_service jobs(f.jobs);
  app::queue_backup_interface interface(f.clock(), "bkr-send-to-interface");
  app::create_request create(f.requests, f.clock(), "bkr-create-request");
  app::check_allowed check(f.pool(), f.requests, jobs, f.clock(), "bkr-check-allowed");
  app::send_to_interface send(f.pool(), f.requests, interface, f.clock());
  app::receive_status receive(f.pool(), f.requests, f.backups, jobs, f.clock());
  app::stage_handler create_h(create), check_h(check), send_h(send), receive_h(receive);

  const auto ok = new_uuid_v7(), refused = new_uuid_v7();
  const auto accepted_ok = accepted_message(sample_accepted(ok, "job-ok"), "trace-ok");
  f.publish({accepted_ok, accepted_message(sample_accepted(refused, "job-unknown"), "trace-refused")});
  for (const auto& m : f.queued(std::string(domain::accepted_message.queue)))
    CHECK(schema_errors("backup-request.accepted.v1.schema.json", m.message.payload).empty());

  const std::string accepted_q(domain::accepted_message.queue), received_q(domain::received_message.queue),
      allowed_q(domain::allowed_message.queue), store_q("backup-interface.cloud-a.store-request"),
      status_q(domain::store_status_message.queue);

  REQUIRE(f.consume_until(accepted_q, create_h, [&] { return f.depth(accepted_q) == 0; }));
  require_valid_messages(f, received_q, domain::received_message, 2);

  REQUIRE(f.consume_until(received_q, check_h, [&] { return f.depth(received_q) == 0; }));
  require_valid_messages(f, allowed_q, domain::allowed_message, 1);
  CHECK(f.request(refused)->status_type_code == request_status::not_allowed);

  REQUIRE(f.consume_until(allowed_q, send_h, [&] { return f.depth(allowed_q) == 0; }));
  require_valid_messages(f, store_q, domain::store_request_message, 1);
  CHECK(f.request(ok)->status_type_code == request_status::sent);
  const auto store = f.queued(store_q)[0].message;
  CHECK(store.trace_id == "trace-ok");  // carried from the HTTP request through every stage
  const auto parsed = domain::parse_store_request(store.payload);
  REQUIRE(parsed.has_value());
  CHECK(parsed->backup_request_id == ok);
  CHECK(parsed->storage_path_name == allowed_job.storage_path_name);

  // The interface answers on the store-status queue.
  const auto reply = success_reply(ok);
  CHECK(schema_errors("backup-interface.store-status.v1.schema.json", reply).empty());
  f.publish(status_message(reply));
  REQUIRE(f.consume_until(status_q, receive_h, [&] { return f.depth(status_q) == 0; }));

  const auto r = f.request(ok);
  CHECK(r->status_type_code == request_status::succeeded);
  CHECK(f.backup_count(ok) == 1);
  std::vector<request_status> journey;
  for (const auto& h : f.history(ok))
    journey.push_back(h.to_status);
  CHECK(journey == std::vector{request_status::received, request_status::allowed, request_status::sent,
                               request_status::succeeded});
  CHECK(f.history(ok)[0].message_id == accepted_ok.message.message_id);
  for (const auto& q : {accepted_q, received_q, allowed_q, store_q, status_q})
    CHECK(f.dead_letters(q).empty());
}
