// ReceiveStatus against real Postgres: the reply rules of DOMAIN.md, the one Backup per request, dead
// letters.
#include "bkr/app/receive_status.hpp"
#include "app_fixture.hpp"
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string status_queue(domain::store_status_message.queue);

struct status_stage {
  app_fixture& f;
  app::local_backup_job_service jobs{f.jobs};
  app::receive_status stage{f.pool(), f.requests, f.backups, jobs, f.clock()};
  app::stage_handler handler{stage};

  /// Publishes `replies` one after the other, each handled before the next is sent.
  void deliver_in_order(const std::vector<nlohmann::json>& replies) {
    for (const auto& r : replies) {
      f.publish(status_message(r));
      REQUIRE(f.consume_until(status_queue, handler, [&] { return f.depth(status_queue) == 0; }));
    }
  }
};

std::vector<request_status> moves(const std::vector<domain::history_entry>& h) {
  std::vector<request_status> out;
  for (std::size_t i = 1; i < h.size(); ++i)
    out.push_back(h[i].to_status);
  return out;
}

}  // namespace

TEST_CASE("a success reply creates exactly one Backup and ends the request Succeeded",
          "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  auto job = sample_job("job-keep", domain::provider::cloud_a);
  job.days_to_keep = 10;
  job.hold_flag = true;
  f.store_job(job);
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::sent, job));
  s.deliver_in_order({success_reply(id), success_reply(id)});

  CHECK(f.dead_letters(status_queue).empty());
  const auto r = f.request(id);
  CHECK(r->status_type_code == request_status::succeeded);
  CHECK(r->reply_timestamp);
  CHECK(r->reply_message_text == "stored");
  CHECK(moves(f.history(id)) == std::vector{request_status::succeeded});
  CHECK(f.history(id).back().stage == "receive-status");
  CHECK(f.backup_count(id) == 1);
  const auto b = f.backup_of(id);
  REQUIRE(b);
  CHECK(b->backup_job_id == job.backup_job_id);
  CHECK(b->storage_path_name == "/vault/copies/" + id);
  CHECK(b->backup_provider_code == domain::provider::cloud_a);
  CHECK(b->days_to_keep_count == 10);
  CHECK(b->hold_flag);
  CHECK(b->backup_byte_count == 123456789012LL);
  CHECK(b->verify_hash_text == "sha256:abc");
  using namespace std::chrono;
  CHECK(b->due_to_delete_date == year_month_day{sys_days{year{2026} / November / day{21}} + days{10}});
}

TEST_CASE(
    "a success for a request whose job was deleted meanwhile keeps the Backup on hold and ends Succeeded",
    "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  // The request is Sent for a job that no longer exists (deleted after it was allowed): none is stored.
  const auto job = sample_job("job-gone", domain::provider::cloud_a);
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::sent, job));
  s.deliver_in_order({success_reply(id)});

  CHECK(f.dead_letters(status_queue).empty());
  CHECK(f.request(id)->status_type_code == request_status::succeeded);
  CHECK(f.history(id).back().reason == std::optional<std::string>("JobNotFoundBackupOnHold"));
  CHECK(f.backup_count(id) == 1);
  const auto b = f.backup_of(id);
  REQUIRE(b);
  CHECK(b->backup_job_id == "job-gone");
  CHECK(b->hold_flag);
  CHECK(b->days_to_keep_count == 0);
}

TEST_CASE("failure then success ends Succeeded and success then failure stays Succeeded",
          "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  f.store_job(sample_job());
  const auto healed = new_uuid_v7(), kept = new_uuid_v7();
  f.store_request(sample_request(healed, request_status::sent));
  f.store_request(sample_request(kept, request_status::sent));

  s.deliver_in_order({failure_reply(healed), failure_reply(healed)});
  CHECK(f.request(healed)->status_type_code == request_status::failed);
  CHECK(f.request(healed)->reply_message_text == "disk full");
  CHECK(f.backup_count(healed) == 0);
  s.deliver_in_order({success_reply(healed)});
  CHECK(f.request(healed)->status_type_code == request_status::succeeded);
  CHECK(moves(f.history(healed)) == std::vector{request_status::failed, request_status::succeeded});
  CHECK(f.backup_count(healed) == 1);

  s.deliver_in_order({success_reply(kept), failure_reply(kept, "late failure")});
  CHECK(f.request(kept)->status_type_code == request_status::succeeded);
  CHECK(f.request(kept)->reply_message_text == "stored");
  CHECK(moves(f.history(kept)) == std::vector{request_status::succeeded});
  CHECK(f.backup_count(kept) == 1);
  CHECK(f.dead_letters(status_queue).empty());
}

TEST_CASE("racing success and failure replies leave one Backup and a Succeeded request",
          "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  f.store_job(sample_job());
  std::vector<std::string> ids;
  std::vector<messaging::outgoing_message> messages;
  for (int i = 0; i < 15; ++i) {
    ids.push_back(new_uuid_v7());
    f.store_request(sample_request(ids.back(), request_status::sent));
  }
  for (const auto& id : ids) {
    messages.push_back(status_message(failure_reply(id)));
    messages.push_back(status_message(success_reply(id)));
    messages.push_back(status_message(success_reply(id)));
  }
  f.publish(messages);
  auto c1 = f.start_consumer(status_queue, s.handler);
  auto c2 = f.start_consumer(status_queue, s.handler);
  CHECK(eventually([&] { return f.depth(status_queue) == 0; }));
  c1->stop(5s);
  c2->stop(5s);
  CHECK(f.dead_letters(status_queue).empty());
  for (const auto& id : ids) {
    INFO(id);
    CHECK(f.request(id)->status_type_code == request_status::succeeded);
    CHECK(f.backup_count(id) == 1);
    CHECK(f.history(id).back().to_status == request_status::succeeded);
  }
}

TEST_CASE("replies for unknown requests or NotAllowed requests or with bad fields are dead-lettered",
          "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  f.store_job(sample_job());
  const auto unknown = new_uuid_v7(), broken = new_uuid_v7(), refused = new_uuid_v7();
  f.store_request(sample_request(broken, request_status::sent));
  f.store_request(sample_request(refused, request_status::not_allowed));
  auto bad = success_reply(broken);
  bad.erase("storagePathName");
  const auto unknown_message = status_message(success_reply(unknown));
  const auto bad_message = status_message(bad);
  const auto refused_message = status_message(failure_reply(refused));
  f.publish({unknown_message, bad_message, refused_message});

  REQUIRE(f.consume_until(status_queue, s.handler, [&] { return f.dead_letters(status_queue).size() == 3; }));
  for (const auto& d : f.dead_letters(status_queue)) {
    INFO(d.reason);
    CHECK(d.message.attempt == 1);
    if (d.message.message_id == unknown_message.message.message_id)
      CHECK(d.reason == "unknown backupRequestId " + unknown);
    else if (d.message.message_id == bad_message.message.message_id)
      CHECK_THAT(d.reason, Catch::Contains("storagePathName"));
    else
      CHECK_THAT(d.reason, Catch::Contains("NotAllowed"));
  }
  CHECK(f.request(broken)->status_type_code == request_status::sent);
  CHECK(f.backup_count(broken) == 0);
  CHECK(f.request(refused)->status_type_code == request_status::not_allowed);
}

TEST_CASE("a reply that arrives before Sent is visible is retried", "[app][receive_status]") {
  app_fixture f;
  status_stage s{f};
  f.store_job(sample_job());
  const auto id = new_uuid_v7();
  f.store_request(sample_request(id, request_status::allowed));
  f.publish(status_message(success_reply(id)));
  auto c = f.start_consumer(status_queue, s.handler);
  REQUIRE(eventually([&] {
    const auto q = f.queued(status_queue);
    return !q.empty() && q[0].attempt >= 2;
  }));
  CHECK(f.backup_count(id) == 0);
  // SendToInterface's commit becomes visible: the retry applies the reply.
  {
    storage::unit_of_work uow(f.pool());
    auto sent = sample_request(id, request_status::sent);
    REQUIRE(f.requests.update_status(uow, sent, request_status::allowed,
                                     {id, request_status::allowed, request_status::sent, f.clock().now(),
                                      "send-to-interface", "", std::nullopt}));
    uow.commit();
  }
  CHECK(eventually([&] { return f.request(id)->status_type_code == request_status::succeeded; }));
  c->stop(5s);
  CHECK(f.backup_count(id) == 1);
  CHECK(f.dead_letters(status_queue).empty());
}
