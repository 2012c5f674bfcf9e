// Stalled-request recovery against real Postgres: what is re-published, how often, by whom.
#include "app_fixture.hpp"
#include "bkr/app/check_allowed.hpp"
#include "bkr/app/recover_stalled.hpp"
#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

#include <pqxx/pqxx>

using namespace bkr;
using namespace bkr::test;
using domain::request_status;

namespace {

const std::string received_queue(domain::received_message.queue);
const std::string allowed_queue(domain::allowed_message.queue);

/// A request that reached `status` `age` ago.
domain::backup_request aged(request_status status, std::chrono::milliseconds age) {
  auto r = sample_request(new_uuid_v7(), status);
  const auto t = floor<std::chrono::milliseconds>(std::chrono::system_clock::now()) - age;
  r.accepted_timestamp = t - 2ms;
  r.received_timestamp = t - 1ms;
  if (r.checked_timestamp)
    r.checked_timestamp = t;
  if (status == request_status::received)
    r.received_timestamp = t;
  return r;
}

struct recovery_setup {
  app_fixture& f;
  app::postgres_pending_messages probe;
  app::recover_stalled recovery{f.pool(), f.requests, probe, f.clock(), "bkr-check-allowed"};
  app::recovery_options options{std::chrono::minutes{2}, 100};
};

}  // namespace

TEST_CASE("a stalled Received request is re-published once, and again only once its message is gone",
          "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  const auto stalled = aged(request_status::received, std::chrono::minutes{5});
  const auto fresh = aged(request_status::received, std::chrono::seconds{10});
  f.store_request(stalled);
  f.store_request(fresh);

  const auto first = s.recovery.run_once(s.options);
  CHECK(first.leader);
  CHECK(first.received == 1);
  CHECK(first.allowed == 0);
  auto queued = f.queued(received_queue);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].message.key == stalled.backup_request_id);
  CHECK(queued[0].message.type == "BackupRequestReceived");
  CHECK(queued[0].message.payload == nlohmann::json{{"backupRequestId", stalled.backup_request_id}});
  CHECK(queued[0].message.producer == "bkr-check-allowed");
  CHECK(queued[0].message.trace_id == "recovery-" + first.run_id);
  CHECK(schema_errors("envelope.schema.json", messaging::to_json(queued[0].message)).empty());

  // Its message is still pending: the next run leaves it alone.
  const auto second = s.recovery.run_once(s.options);
  CHECK(second.leader);
  CHECK(second.received == 0);
  CHECK(second.pending == 1);
  CHECK(f.queued(received_queue).size() == 1);

  // Once the message is gone and the request is still stuck, a later run sends it again.
  f.admin().purge_queue(received_queue);
  CHECK(f.queued(received_queue).empty());
  const auto third = s.recovery.run_once(s.options);
  CHECK(third.received == 1);
  CHECK(f.queued(received_queue).size() == 1);
}

TEST_CASE("the re-published message moves the request on", "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  f.store_job(sample_job());
  const auto stalled = aged(request_status::received, std::chrono::minutes{5});
  f.store_request(stalled);
  REQUIRE(s.recovery.run_once(s.options).received == 1);
  app::local_backup_job_service jobs(f.jobs);
  app::check_allowed check(f.pool(), f.requests, jobs, f.clock(), "bkr-check-allowed");
  app::stage_handler handler(check);
  REQUIRE(f.consume_until(received_queue, handler, [&] { return f.depth(received_queue) == 0; }));
  CHECK(f.request(stalled.backup_request_id)->status_type_code == request_status::allowed);
  CHECK(s.recovery.run_once(s.options).received == 0);
}

TEST_CASE("stalled Allowed requests go back to the allowed queue and dead letters are left to the operator",
          "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  const auto stalled = aged(request_status::allowed, std::chrono::minutes{3});
  const auto poisoned = aged(request_status::allowed, std::chrono::minutes{3});
  const auto done = aged(request_status::sent, std::chrono::minutes{30});
  f.store_request(stalled);
  f.store_request(poisoned);
  f.store_request(done);
  // A dead letter exists for `poisoned` on the allowed queue.
  {
    pqxx::connection c(f.conninfo());
    pqxx::work tx(c);
    tx.exec_params(
        "INSERT INTO mq.dead_letters (message_id, queue, type, schema_version, key, occurred_at,"
        " trace_id, producer, payload, attempts, reason, first_seen)"
        " VALUES ($1::uuid, $2, 'BackupRequestAllowed', 1, $3, now(), '', 'test', '{}'::jsonb, 10, 'x', "
        "now())",
        new_uuid_v7(), allowed_queue, poisoned.backup_request_id);
    tx.commit();
  }
  const auto report = s.recovery.run_once(s.options);
  CHECK(report.allowed == 1);
  CHECK(report.received == 0);
  CHECK(report.pending == 1);
  const auto queued = f.queued(allowed_queue);
  REQUIRE(queued.size() == 1);
  CHECK(queued[0].message.key == stalled.backup_request_id);
  CHECK(queued[0].message.type == "BackupRequestAllowed");
}

TEST_CASE("recovery is paced to at most the limit per run oldest first", "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  std::vector<std::string> oldest_first;
  for (int minutes = 10; minutes > 5; --minutes) {
    const auto r = aged(request_status::received, std::chrono::minutes{minutes});
    f.store_request(r);
    oldest_first.push_back(r.backup_request_id);
  }
  s.options.limit = 2;
  auto keys = [&] {
    std::set<std::string> out;
    for (const auto& q : f.queued(received_queue))
      out.insert(q.message.key);
    return out;
  };
  CHECK(s.recovery.run_once(s.options).received == 2);
  CHECK(keys() == std::set<std::string>{oldest_first[0], oldest_first[1]});
  CHECK(s.recovery.run_once(s.options).received == 2);
  CHECK(keys() == std::set<std::string>{oldest_first.begin(), oldest_first.begin() + 4});
  CHECK(s.recovery.run_once(s.options).received == 1);
  CHECK(s.recovery.run_once(s.options).received == 0);
  CHECK(f.queued(received_queue).size() == 5);
}

TEST_CASE("only the holder of the recovery lock re-publishes", "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  f.store_request(aged(request_status::received, std::chrono::minutes{5}));
  {
    // Another process leads this run.
    pqxx::connection other(f.conninfo());
    pqxx::work tx(other);
    tx.exec_params("SELECT pg_advisory_xact_lock($1)", static_cast<long long>(app::recovery_lock_key));
    const auto report = s.recovery.run_once(s.options);
    CHECK_FALSE(report.leader);
    CHECK(report.received == 0);
    CHECK(f.queued(received_queue).empty());
  }
  const auto report = s.recovery.run_once(s.options);
  CHECK(report.leader);
  CHECK(report.received == 1);
}

TEST_CASE("the sweep runs periodically until stopped and the bkrctl entry point runs one pass",
          "[app][recovery]") {
  app_fixture f;
  recovery_setup s{f};
  f.store_request(aged(request_status::received, std::chrono::minutes{5}));
  app::recovery_sweeper sweeper(s.recovery, s.options, std::chrono::milliseconds{20});
  sweeper.start();
  REQUIRE(eventually([&] { return sweeper.runs() >= 3; }));
  sweeper.stop();
  const auto last = sweeper.last_report();
  REQUIRE(last);
  CHECK(last->leader);
  CHECK(f.queued(received_queue).size() == 1);  // once, however many runs

  f.store_request(aged(request_status::allowed, std::chrono::minutes{5}));
  const auto report = app::recover_stalled_requests(f.pool(), s.options);
  CHECK(report.allowed == 1);
  CHECK(f.queued(allowed_queue).at(0).message.producer == "bkrctl");
}
