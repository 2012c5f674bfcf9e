// CheckAllowed against real Postgres: verdicts from the job, redeliveries, compare-and-set races, outages.
#include "bkr/app/check_allowed.hpp"
#include "app_fixture.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/app/outcome_mapping.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>

#include <pqxx/pqxx>

#include <atomic>
#include <future>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string received_queue(domain::received_message.queue);
const std::string allowed_queue(domain::allowed_message.queue);

struct check_stage {
  explicit check_stage(app_fixture& fx, app::backup_job_service* service = nullptr)
      : f(fx), stage(f.pool(), f.requests, service ? *service : local, f.clock(), "bkr-check-allowed") {}
  app_fixture& f;
  app::local_backup_job_service local{f.jobs};
  app::check_allowed stage;
  app::stage_handler handler{stage};
};

/// Stands in for a remote job service: answers from a map, or gives no answer while `down` is set.
class switchable_job_service final : public app::backup_job_service {
 public:
  std::atomic<bool> down{true};
  std::atomic<int> calls{0};
  domain::backup_job job = sample_job();
  app::job_lookup find(storage::unit_of_work&, std::string_view id) override {
    ++calls;
    if (down)
      return app::make_error(app::errc::dependency_unavailable, "job service timed out");
    if (id == job.backup_job_id)
      return std::optional{job};
    return std::optional<domain::backup_job>{};
  }
};

/// Waits until some connection to the fixture's database waits on a row lock.
bool someone_waits_on_a_lock(app_fixture& f) {
  return eventually([&] {
    pqxx::connection c(f.conninfo());
    pqxx::nontransaction tx(c);
    return tx.exec1(
                 "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                 " AND wait_event_type = 'Lock'")[0]
               .as<int>() > 0;
  });
}

}  // namespace

TEST_CASE("a request of an active job is Allowed with the job's provider and path and goes on",
          "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  const auto job = sample_job("job-a", domain::provider::cloud_a);
  f.store_job(job);
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::received, job));
  auto in = received_message(id);
  in.message.trace_id = "trace-77";
  f.publish(in);

  REQUIRE(f.consume_until(received_queue, s.handler, [&] { return f.depth(received_queue) == 0; }));
  const auto r = f.request(id);
  REQUIRE(r);
  CHECK(r->status_type_code == request_status::allowed);
  CHECK(r->backup_provider_code == domain::provider::cloud_a);
  CHECK(r->storage_path_name == job.storage_path_name);
  CHECK(r->checked_timestamp);
  const auto h = f.history(id);
  REQUIRE(h.size() == 2);
  CHECK(h[1].from_status == request_status::received);
  CHECK(h[1].to_status == request_status::allowed);
  CHECK(h[1].stage == "check-allowed");
  CHECK(h[1].message_id == in.message.message_id);
  CHECK_FALSE(h[1].reason);
  const auto out = f.queued(allowed_queue);
  REQUIRE(out.size() == 1);
  CHECK(out[0].message.payload == nlohmann::json{{"backupRequestId", id}});
  CHECK(out[0].message.trace_id == "trace-77");
  CHECK(out[0].message.producer == "bkr-check-allowed");
}

TEST_CASE("unknown and inactive jobs are NotAllowed with their reason and produce no allowed message",
          "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  auto inactive = sample_job("job-off");
  inactive.is_active = false;
  auto held = sample_job("job-held");
  held.hold_flag = true;
  f.store_job(inactive);
  f.store_job(held);
  const auto unknown_id = new_uuid_v7(), inactive_id = new_uuid_v7(), held_id = new_uuid_v7();
  f.store_request(sample_request(unknown_id, request_status::received, sample_job("job-missing")));
  f.store_request(sample_request(inactive_id, request_status::received, inactive));
  f.store_request(sample_request(held_id, request_status::received, held));
  f.publish({received_message(unknown_id), received_message(inactive_id), received_message(held_id)});

  REQUIRE(f.consume_until(received_queue, s.handler, [&] { return f.depth(received_queue) == 0; }));
  CHECK(f.dead_letters(received_queue).empty());
  CHECK(f.request(unknown_id)->status_type_code == request_status::not_allowed);
  CHECK(f.history(unknown_id).back().reason == "JobNotFound");
  CHECK(f.request(inactive_id)->status_type_code == request_status::not_allowed);
  CHECK(f.history(inactive_id).back().reason == "JobInactive");
  CHECK_FALSE(f.request(inactive_id)->backup_provider_code);
  // Hold only matters for deleting the Backup.
  CHECK(f.request(held_id)->status_type_code == request_status::allowed);
  const auto out = f.queued(allowed_queue);
  REQUIRE(out.size() == 1);
  CHECK(out[0].message.key == held_id);
}

TEST_CASE("redelivered received messages are acknowledged with one transition", "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  f.store_job(sample_job());
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::received));
  auto first = received_message(id);
  auto again = received_message(id);
  f.publish({first, again});
  REQUIRE(f.consume_until(received_queue, s.handler, [&] { return f.depth(received_queue) == 0; }));
  // And once more after the verdict.
  auto late = received_message(id);
  f.publish(late);
  REQUIRE(f.consume_until(received_queue, s.handler, [&] { return f.depth(received_queue) == 0; }));
  CHECK(f.dead_letters(received_queue).empty());
  CHECK(f.history(id).size() == 2);
  CHECK(f.queued(allowed_queue).size() == 1);
}

TEST_CASE("a compare-and-set lost to a concurrent worker is acknowledged without writes",
          "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  f.store_job(sample_job());
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::received));
  const auto a = received_message(id).message;
  const auto b = received_message(id).message;

  // Worker A moves the request but has not committed yet.
  storage::unit_of_work uow_a(f.pool());
  messaging::postgres::log_publisher out_a(uow_a);
  const auto ra = s.stage.handle(uow_a, out_a, a);
  REQUIRE(ra.has_value());
  CHECK(*ra == app::stage_outcome::applied);
  // Worker B read Received too; its compare-and-set waits for A's row lock.
  auto rb = std::async(std::launch::async, [&] {
    storage::unit_of_work uow_b(f.pool());
    messaging::postgres::log_publisher out_b(uow_b);
    auto r = s.stage.handle(uow_b, out_b, b);
    uow_b.commit();
    return r;
  });
  REQUIRE(someone_waits_on_a_lock(f));
  uow_a.commit();
  const auto result_b = rb.get();
  REQUIRE(result_b.has_value());
  CHECK(*result_b == app::stage_outcome::lost_race);
  CHECK(app::to_handler_result(result_b).kind == messaging::outcome::commit);
  CHECK(f.history(id).size() == 2);
  CHECK(f.queued(allowed_queue).size() == 1);
}

TEST_CASE("two consumers racing over duplicated messages make each transition once", "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  f.store_job(sample_job());
  std::vector<std::string> ids;
  std::vector<messaging::outgoing_message> messages;
  for (int i = 0; i < 20; ++i) {
    ids.push_back(new_uuid_v7());
    f.store_request(sample_request(ids.back(), request_status::received));
  }
  for (int copy = 0; copy < 3; ++copy)
    for (const auto& id : ids) {
      auto m = received_message(id);
      messages.push_back(m);
    }
  // Two partitions, so both consumers work: each takes one (copies of one request share a partition).
  REQUIRE(f.admin().set_partitions(received_queue, 2).has_value());
  f.publish(messages);
  auto c1 = f.start_consumer(received_queue, s.handler);
  auto c2 = f.start_consumer(received_queue, s.handler);
  CHECK(eventually([&] { return f.depth(received_queue) == 0; }));
  c1->stop(5s);
  c2->stop(5s);
  CHECK(f.dead_letters(received_queue).empty());
  for (const auto& id : ids) {
    INFO(id);
    CHECK(f.history(id).size() == 2);
    CHECK(f.request(id)->status_type_code == request_status::allowed);
  }
  CHECK(f.queued(allowed_queue).size() == ids.size());
}

TEST_CASE("a job service without an answer is retried and never gives a verdict", "[app][check_allowed]") {
  app_fixture f;
  switchable_job_service service;
  check_stage s(f, &service);
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::received));
  f.publish(received_message(id));

  auto c = f.start_consumer(received_queue, s.handler);
  REQUIRE(eventually([&] { return service.calls >= 3; }));
  CHECK(f.request(id)->status_type_code == request_status::received);
  CHECK(f.history(id).size() == 1);
  CHECK(f.dead_letters(received_queue).empty());
  service.down = false;
  CHECK(eventually([&] { return f.request(id)->status_type_code == request_status::allowed; }));
  c->stop(5s);
  CHECK(f.history(id).size() == 2);
  CHECK(f.queued(allowed_queue).size() == 1);
}

TEST_CASE("a received message for an unknown request is dead-lettered and one too early is retried",
          "[app][check_allowed]") {
  app_fixture f;
  check_stage s(f);
  f.store_job(sample_job());
  const auto unknown = new_uuid_v7(), early = new_uuid_v7();
  f.store_request(sample_request(early, request_status::accepted));
  f.publish({received_message(unknown), received_message(early)});
  REQUIRE(f.consume_until(
      received_queue, s.handler, [&] { return f.dead_letters(received_queue).size() == 2; }, 3));
  for (const auto& d : f.dead_letters(received_queue)) {
    INFO(d.reason);
    if (d.message.key == unknown) {
      CHECK(d.reason == "unknown backupRequestId " + unknown);
      CHECK(d.message.attempt == 1);
    } else {
      // too_early is transient: retried until the attempts ran out.
      CHECK_THAT(d.reason, Catch::Contains("attempts exhausted (3)"));
      CHECK_THAT(d.last_error, Catch::Contains("Accepted"));
    }
  }
  CHECK(f.request(early)->status_type_code == request_status::accepted);
}
