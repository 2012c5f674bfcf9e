// backup_request_repository: insert, find, compare-and-set transitions with history, recovery scans.
#include "bkr/storage/backup_request_repository.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <barrier>
#include <future>
#include <set>

using namespace std::chrono_literals;
using bkr::domain::provider;
using bkr::domain::request_status;
using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

namespace {

bkr::storage::backup_request_repository requests;

void insert_committed(connection_pool& pool, const bkr::domain::backup_request& r) {
  unit_of_work uow(pool);
  REQUIRE(requests.insert(uow, r, bkr::test::first_entry(r)));
  uow.commit();
}

bkr::domain::backup_request allowed(bkr::domain::backup_request r) {
  r.status_type_code = request_status::allowed;
  r.checked_timestamp = bkr::test::sample_time(1s);
  r.backup_provider_code = provider::cloud_a;
  r.storage_path_name = "bucket-a/job-7";
  return r;
}

}  // namespace

TEST_CASE("insert stores every field and the first history entry, find reads them back exactly") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  auto request = bkr::test::received_request();
  // Every optional field set, with millisecond parts, to show nothing is lost or rounded.
  request.transport_type_code = bkr::domain::transport::queue;
  request.get_on_start_flag = false;
  request.backup_provider_code = provider::cloud_b;
  request.storage_path_name = "bucket-b/path with spaces/ünïcode";
  request.checked_timestamp = bkr::test::sample_time(1001ms);
  request.sent_to_interface_timestamp = bkr::test::sample_time(2002ms);
  request.reply_timestamp = bkr::test::sample_time(3003ms);
  request.reply_message_text = "it's \"quoted\"; -- not SQL";
  const auto first = bkr::test::first_entry(request);
  {
    unit_of_work uow(pool);
    CHECK(requests.insert(uow, request, first));
    uow.commit();
  }
  unit_of_work uow(pool);
  const auto found = requests.find(uow, request.backup_request_id);
  REQUIRE(found.has_value());
  CHECK(*found == request);
  CHECK(requests.history(uow, request.backup_request_id) == std::vector{first});
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT data_date::text FROM backup_request") == "2026-11-21");
}

TEST_CASE("inserting a request that exists writes nothing and says so") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  auto again = request;
  again.prepared_data_path_name = "/somewhere/else";
  unit_of_work uow(pool);
  CHECK_FALSE(requests.insert(uow, again, bkr::test::first_entry(again)));
  CHECK(requests.find(uow, request.backup_request_id) == request);
  CHECK(requests.history(uow, request.backup_request_id).size() == 1);
}

TEST_CASE("find and history of unknown or malformed ids are empty") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  unit_of_work uow(pool);
  CHECK_FALSE(requests.find(uow, bkr::new_uuid_v7()).has_value());
  CHECK_FALSE(requests.find(uow, "not-a-uuid-but-a-valid-id").has_value());
  CHECK_FALSE(requests.find_for_update(uow, "").has_value());
  CHECK(requests.history(uow, "x'; DROP TABLE backup_request; --").empty());
}

TEST_CASE("update_status moves the request only from the expected status and records the move once") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  const auto next = allowed(request);
  const auto move =
      bkr::test::entry(next, request_status::received, *next.checked_timestamp, "check-allowed");
  {
    unit_of_work uow(pool);
    CHECK(requests.update_status(uow, next, request_status::received, move));
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(requests.find(uow, request.backup_request_id) == next);
  CHECK(requests.history(uow, request.backup_request_id) ==
        std::vector{bkr::test::first_entry(request), move});

  // A second worker that read the request at Received loses and writes nothing.
  auto stale = request;
  stale.status_type_code = request_status::not_allowed;
  stale.checked_timestamp = bkr::test::sample_time(5s);
  const auto stale_move = bkr::test::entry(stale, request_status::received, *stale.checked_timestamp,
                                           "check-allowed", bkr::new_uuid_v7(), "JobNotFound");
  CHECK_FALSE(requests.update_status(uow, stale, request_status::received, stale_move));
  CHECK(requests.find(uow, request.backup_request_id) == next);
  CHECK(requests.history(uow, request.backup_request_id).size() == 2);
}

TEST_CASE("each status change writes the status and only the columns that status sets") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  unit_of_work uow(pool);
  auto expected = request;
  std::vector<bkr::domain::history_entry> history{bkr::test::first_entry(request)};

  // Fields that no status change may touch, and timestamps that belong to other statuses, are ignored.
  auto noisy = [](bkr::domain::backup_request r) {
    r.backup_job_id = "other-job";
    r.prepared_data_path_name = "/tampered";
    r.requester_id = "someone-else";
    r.accepted_timestamp = bkr::test::sample_time(-1h);
    return r;
  };
  auto step = [&](request_status from, bkr::domain::backup_request wanted,
                  bkr::domain::backup_request sent_in, std::optional<std::string> reason = std::nullopt) {
    const auto e =
        bkr::test::entry(wanted, from, bkr::test::sample_time(std::chrono::milliseconds(history.size())),
                         "stage-" + std::to_string(history.size()), bkr::new_uuid_v7(), reason);
    REQUIRE(requests.update_status(uow, sent_in, from, e));
    history.push_back(e);
    CHECK(requests.find(uow, request.backup_request_id) == wanted);
  };

  expected = allowed(expected);
  auto in = noisy(expected);
  in.sent_to_interface_timestamp = bkr::test::sample_time(9h);
  in.reply_message_text = "not yet";
  step(request_status::received, expected, in);

  expected.status_type_code = request_status::sent;
  expected.sent_to_interface_timestamp = bkr::test::sample_time(2s);
  in = noisy(expected);
  in.backup_provider_code = provider::local;
  in.storage_path_name = "changed";
  step(request_status::allowed, expected, in);

  expected.status_type_code = request_status::failed;
  expected.reply_timestamp = bkr::test::sample_time(3s);
  expected.reply_message_text = "copy failed: disk full";
  step(request_status::sent, expected, noisy(expected), "interface reported failure");

  expected.status_type_code = request_status::succeeded;
  expected.reply_timestamp = bkr::test::sample_time(4s);
  expected.reply_message_text = std::nullopt;
  in = noisy(expected);
  in.checked_timestamp = bkr::test::sample_time(-5h);
  step(request_status::failed, expected, in);

  CHECK(requests.history(uow, request.backup_request_id) == history);
}

TEST_CASE("NotAllowed records its reason and checkedTimestamp, a history entry without message is kept") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  auto refused = request;
  refused.status_type_code = request_status::not_allowed;
  refused.checked_timestamp = bkr::test::sample_time(7s);
  const auto e =
      bkr::test::entry(refused, std::nullopt, *refused.checked_timestamp, "check-allowed", "", "JobNotFound");
  unit_of_work uow(pool);
  REQUIRE(requests.update_status(uow, refused, request_status::received, e));
  CHECK(requests.find(uow, request.backup_request_id) == refused);
  const auto history = requests.history(uow, request.backup_request_id);
  REQUIRE(history.size() == 2);
  // The repository records the status it compared against as the move's origin.
  auto recorded = e;
  recorded.from_status = request_status::received;
  CHECK(history[1] == recorded);
}

TEST_CASE("update_status refuses a history entry that does not describe the change") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  const auto next = allowed(request);
  unit_of_work uow(pool);
  auto wrong_target =
      bkr::test::entry(next, request_status::received, bkr::test::sample_time(), "check-allowed");
  wrong_target.to_status = request_status::sent;
  CHECK_THROWS_AS(requests.update_status(uow, next, request_status::received, wrong_target),
                  std::invalid_argument);
  auto wrong_origin =
      bkr::test::entry(next, request_status::accepted, bkr::test::sample_time(), "check-allowed");
  CHECK_THROWS_AS(requests.update_status(uow, next, request_status::received, wrong_origin),
                  std::invalid_argument);
  auto other_request =
      bkr::test::entry(next, request_status::received, bkr::test::sample_time(), "check-allowed");
  other_request.backup_request_id = bkr::new_uuid_v7();
  CHECK_THROWS_AS(requests.update_status(uow, next, request_status::received, other_request),
                  std::invalid_argument);
  CHECK(requests.history(uow, request.backup_request_id).size() == 1);
}

TEST_CASE("two workers moving one request concurrently: exactly one wins, exactly one history row") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 4));
  constexpr int rounds = 50;
  int allowed_wins = 0;
  for (int round = 0; round < rounds; ++round) {
    const auto request = bkr::test::received_request();
    insert_committed(pool, request);
    const auto to_allowed = allowed(request);
    auto to_not_allowed = request;
    to_not_allowed.status_type_code = request_status::not_allowed;
    to_not_allowed.checked_timestamp = bkr::test::sample_time(2s);

    // Both units of work begin and are ready before either runs its UPDATE; the barrier releases them
    // together.
    std::barrier ready(2);
    auto worker = [&](const bkr::domain::backup_request& target, std::optional<std::string> reason) {
      unit_of_work uow(pool);
      const auto e = bkr::test::entry(target, request_status::received, *target.checked_timestamp,
                                      "check-allowed", bkr::new_uuid_v7(), reason);
      ready.arrive_and_wait();
      const bool won = requests.update_status(uow, target, request_status::received, e);
      uow.commit();
      return won;
    };
    auto a = std::async(std::launch::async, worker, std::cref(to_allowed), std::nullopt);
    auto b = std::async(std::launch::async, worker, std::cref(to_not_allowed), std::string("JobNotFound"));
    const bool a_won = a.get();
    const bool b_won = b.get();
    REQUIRE(a_won != b_won);
    if (a_won)
      ++allowed_wins;

    unit_of_work check(pool);
    const auto history = requests.history(check, request.backup_request_id);
    REQUIRE(history.size() == 2);
    CHECK(history[1].from_status == request_status::received);
    CHECK(history[1].to_status == (a_won ? request_status::allowed : request_status::not_allowed));
    CHECK(requests.find(check, request.backup_request_id) == (a_won ? to_allowed : to_not_allowed));
  }
  INFO("Allowed won " << allowed_wins << " of " << rounds << " rounds");
  CHECK(bkr::test::scalar(db.conninfo(),
                          "SELECT count(*) FROM backup_request_history WHERE from_status = 'Received'") ==
        std::to_string(rounds));
}

TEST_CASE("find_for_update locks the request until the unit of work ends") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = bkr::test::received_request();
  insert_committed(pool, request);
  {
    unit_of_work holder(pool);
    REQUIRE(requests.find_for_update(holder, request.backup_request_id) == request);
    unit_of_work other(pool);
    try {
      other.tx().exec_params("SELECT 1 FROM backup_request WHERE backup_request_id = $1 FOR UPDATE NOWAIT",
                             request.backup_request_id);
      FAIL("the row was not locked");
    } catch (const pqxx::sql_error& e) {
      CHECK(e.sqlstate() == "55P03");  // lock_not_available
    }
  }
  unit_of_work after(pool);
  CHECK(after.tx()
            .exec_params("SELECT 1 FROM backup_request WHERE backup_request_id = $1 FOR UPDATE NOWAIT",
                         request.backup_request_id)
            .size() == 1);
}

TEST_CASE("find_stalled returns the oldest requests waiting at a status, up to the limit") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto cutoff = bkr::test::sample_time(1h);
  std::vector<bkr::domain::backup_request> old_received;
  {
    unit_of_work uow(pool);
    // Received: three before the cutoff (inserted out of order), one exactly at it, one after.
    for (auto offset : {30min, 10min, 50min, 60min, 90min}) {
      auto r = bkr::test::received_request();
      r.received_timestamp = bkr::test::sample_time(offset);
      REQUIRE(requests.insert(uow, r, bkr::test::first_entry(r)));
      if (offset < 60min)
        old_received.push_back(r);
    }
    // Allowed long ago but checked after the cutoff, and one checked before it.
    for (auto checked : {61min, 59min}) {
      auto r = allowed(bkr::test::received_request());
      r.received_timestamp = bkr::test::sample_time();
      r.checked_timestamp = bkr::test::sample_time(checked);
      REQUIRE(requests.insert(uow, r, bkr::test::first_entry(r)));
    }
    uow.commit();
  }
  std::sort(old_received.begin(), old_received.end(),
            [](const auto& a, const auto& b) { return a.received_timestamp < b.received_timestamp; });
  unit_of_work uow(pool);
  CHECK(requests.find_stalled(uow, request_status::received, cutoff, 10) == old_received);
  CHECK(requests.find_stalled(uow, request_status::received, cutoff, 2) ==
        std::vector(old_received.begin(), old_received.begin() + 2));
  const auto stalled_allowed = requests.find_stalled(uow, request_status::allowed, cutoff, 10);
  REQUIRE(stalled_allowed.size() == 1);
  CHECK(stalled_allowed[0].checked_timestamp == bkr::test::sample_time(59min));
  CHECK(requests.find_stalled(uow, request_status::sent, cutoff, 10).empty());
  CHECK_THROWS_AS(requests.find_stalled(uow, request_status::succeeded, cutoff, 10), std::invalid_argument);
}

TEST_CASE("request ids are kept as the text they arrive as, within the id rule") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto upper = bkr::test::received_request("0190F3A2-7B1C-7D3E-8F00-ABCDEF012345");
  const auto external = bkr::test::received_request("REQ-42_external");
  {
    unit_of_work uow(pool);
    REQUIRE(requests.insert(uow, upper, bkr::test::first_entry(upper)));
    REQUIRE(requests.insert(uow, external, bkr::test::first_entry(external)));
    uow.commit();
  }
  {
    unit_of_work uow(pool);
    CHECK(requests.find(uow, upper.backup_request_id) == upper);
    CHECK(requests.find(uow, external.backup_request_id) == external);
    CHECK_FALSE(requests.find(uow, "req-42_external").has_value());
  }
  for (const std::string& bad : {std::string("with space"), std::string(51, 'x'), std::string()}) {
    unit_of_work uow(pool);
    const auto r = bkr::test::received_request(bad);
    CHECK_THROWS_AS(requests.insert(uow, r, bkr::test::first_entry(r)), pqxx::check_violation);
  }
}

TEST_CASE("insert_many stores new requests with their first history entry and skips the ones that exist") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto existing = bkr::test::received_request();
  insert_committed(pool, existing);
  auto full = bkr::test::received_request();
  full.backup_provider_code = provider::cloud_b;
  full.storage_path_name = "bucket-b/path with spaces/\"quoted\" \\ back";
  full.checked_timestamp = bkr::test::sample_time(1001ms);
  full.reply_message_text = "it's; -- not SQL";
  const auto plain = bkr::test::received_request();
  auto changed_existing = existing;
  changed_existing.requester_id = "someone-else";
  const std::vector<bkr::storage::new_request> batch{{full, bkr::test::first_entry(full)},
                                                     {changed_existing, bkr::test::first_entry(existing)},
                                                     {plain, bkr::test::first_entry(plain)}};
  {
    unit_of_work uow(pool);
    CHECK(requests.insert_many(uow, batch) ==
          std::set<std::string>{full.backup_request_id, plain.backup_request_id});
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(requests.find(uow, full.backup_request_id) == full);
  CHECK(requests.find(uow, plain.backup_request_id) == plain);
  CHECK(requests.find(uow, existing.backup_request_id) == existing);  // untouched
  CHECK(requests.history(uow, full.backup_request_id) == std::vector{bkr::test::first_entry(full)});
  CHECK(requests.history(uow, existing.backup_request_id).size() == 1);
  CHECK(requests.insert_many(uow, std::vector<bkr::storage::new_request>{}).empty());
  const std::vector<bkr::storage::new_request> twice{{plain, bkr::test::first_entry(plain)},
                                                     {plain, bkr::test::first_entry(plain)}};
  CHECK_THROWS_AS(requests.insert_many(uow, twice), std::invalid_argument);
}

TEST_CASE("find_many reads the stored requests among the ids, in id order, and can lock them") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  std::vector<bkr::domain::backup_request> stored;
  for (int i = 0; i < 3; ++i) {
    stored.push_back(bkr::test::received_request());
    insert_committed(pool, stored.back());
  }
  std::sort(stored.begin(), stored.end(),
            [](const auto& a, const auto& b) { return a.backup_request_id < b.backup_request_id; });
  const std::vector<std::string> ids{stored[2].backup_request_id, "no-such-request",
                                     "has \"quotes\", {braces}", stored[0].backup_request_id,
                                     stored[1].backup_request_id};
  {
    unit_of_work uow(pool);
    CHECK(requests.find_many(uow, ids) == stored);
    CHECK(requests.find_many(uow, std::vector<std::string>{}).empty());
    CHECK(requests.find_many(uow, std::vector<std::string>{"nothing"}).empty());
  }
  // Locked until the unit of work ends: another transaction's compare-and-set waits.
  unit_of_work holder(pool);
  REQUIRE(requests.find_many(holder, ids, true).size() == 3);
  auto moving = std::async(std::launch::async, [&] {
    unit_of_work uow(pool);
    const auto next = allowed(stored[1]);
    const bool won = requests.update_status(
        uow, next, request_status::received,
        bkr::test::entry(next, request_status::received, *next.checked_timestamp, "check-allowed"));
    uow.commit();
    return won;
  });
  CHECK(moving.wait_for(300ms) == std::future_status::timeout);
  holder.commit();
  REQUIRE(moving.wait_for(10s) == std::future_status::ready);
  CHECK(moving.get());
}

TEST_CASE("update_status_many is one compare-and-set per request: winners move with one history row") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto a = bkr::test::received_request(), b = bkr::test::received_request(),
             moved = bkr::test::received_request();
  for (const auto& r : {a, b, moved})
    insert_committed(pool, r);
  const auto moved_on = allowed(moved);
  {
    unit_of_work uow(pool);
    REQUIRE(requests.update_status(
        uow, moved_on, request_status::received,
        bkr::test::entry(moved_on, request_status::received, *moved_on.checked_timestamp, "check-allowed")));
    uow.commit();
  }
  // a -> Allowed (provider and path set), b -> NotAllowed with a reason; `moved` is no longer Received.
  const auto a_next = allowed(a);
  auto b_next = b;
  b_next.status_type_code = request_status::not_allowed;
  b_next.checked_timestamp = bkr::test::sample_time(2s);
  auto stale = moved;
  stale.status_type_code = request_status::not_allowed;
  stale.checked_timestamp = bkr::test::sample_time(3s);
  // Fields no status change may touch are ignored, as by update_status.
  auto noisy_a = a_next;
  noisy_a.requester_id = "someone-else";
  noisy_a.reply_message_text = "not yet";
  const auto a_move =
      bkr::test::entry(a_next, request_status::received, *a_next.checked_timestamp, "check-allowed");
  const auto b_move = bkr::test::entry(b_next, request_status::received, *b_next.checked_timestamp,
                                       "check-allowed", bkr::new_uuid_v7(), "JobNotFound");
  auto b_no_message = b_move;
  b_no_message.message_id.clear();
  const std::vector<bkr::storage::status_change> changes{
      {noisy_a, request_status::received, a_move},
      {b_next, request_status::received, b_no_message},
      {stale, request_status::received,
       bkr::test::entry(stale, request_status::received, *stale.checked_timestamp, "check-allowed")}};
  {
    unit_of_work uow(pool);
    CHECK(requests.update_status_many(uow, changes) ==
          std::set<std::string>{a.backup_request_id, b.backup_request_id});
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(requests.find(uow, a.backup_request_id) == a_next);
  CHECK(requests.find(uow, b.backup_request_id) == b_next);
  CHECK(requests.find(uow, moved.backup_request_id) == moved_on);
  CHECK(requests.history(uow, a.backup_request_id) == std::vector{bkr::test::first_entry(a), a_move});
  CHECK(requests.history(uow, b.backup_request_id) == std::vector{bkr::test::first_entry(b), b_no_message});
  CHECK(requests.history(uow, moved.backup_request_id).size() == 2);

  // The rules of update_status hold for each change.
  auto wrong = changes;
  wrong[0].entry.to_status = request_status::sent;
  CHECK_THROWS_AS(requests.update_status_many(uow, wrong), std::invalid_argument);
  const std::vector<bkr::storage::status_change> twice{changes[0], changes[0]};
  CHECK_THROWS_AS(requests.update_status_many(uow, twice), std::invalid_argument);
  CHECK(requests.update_status_many(uow, std::vector<bkr::storage::status_change>{}).empty());
}

TEST_CASE("update_status_many reads its rows through the primary key, not a scan, at any table size") {
  // json_to_recordset is estimated at 100 rows; without the id array the generic plan was a hash join over a
  // sequential scan of backup_request while the table held up to ~20k rows: milliseconds per batch.
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto mine = bkr::test::received_request();
  insert_committed(pool, mine);
  {
    unit_of_work uow(pool);
    uow.tx().exec0(
        "INSERT INTO backup_request (backup_request_id, backup_job_id, data_date, prepared_data_path_name,"
        " get_on_start_flag, transport_type_code, status_type_code, requester_id, received_timestamp)"
        " SELECT 'filler-' || g, 'job-1', DATE '2026-01-01', '/data/x', false, 'Queue', 'Received', 'r', "
        "now()"
        " FROM generate_series(1, 5000) g");
    uow.commit();
  }
  unit_of_work uow(pool);
  uow.tx().exec0("SET LOCAL plan_cache_mode = force_generic_plan");  // what a long-lived worker ends up with
  auto scans = [&] {
    return uow.tx()
        .exec1(
            "SELECT coalesce(seq_scan, 0) FROM pg_stat_xact_user_tables WHERE relname = 'backup_request'")[0]
        .as<long long>();
  };
  const auto before = scans();
  const auto next = allowed(mine);
  const std::vector<bkr::storage::status_change> changes{
      {next, request_status::received,
       bkr::test::entry(next, request_status::received, *next.checked_timestamp, "check-allowed")}};
  CHECK(requests.update_status_many(uow, changes) == std::set<std::string>{mine.backup_request_id});
  CHECK(scans() == before);
}

TEST_CASE("update_status_many writes the columns of each target status, like update_status") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  // One request per transition that a stage makes in batches, each compared with update_status' result.
  auto sent = allowed(bkr::test::received_request());
  sent.status_type_code = request_status::sent;
  sent.sent_to_interface_timestamp = bkr::test::sample_time(2s);
  auto failed = sent;
  failed.backup_request_id = bkr::new_uuid_v7();
  auto allowed_one = allowed(bkr::test::received_request());
  allowed_one.status_type_code = request_status::allowed;
  std::vector<bkr::domain::backup_request> before{bkr::test::received_request(), allowed_one, sent, failed};
  before[1].status_type_code = request_status::allowed;
  for (const auto& r : before) {
    unit_of_work uow(pool);
    auto first = bkr::test::first_entry(r);
    first.to_status = r.status_type_code;
    REQUIRE(requests.insert(uow, r, first));
    uow.commit();
  }
  auto received_next = allowed(before[0]);
  auto sent_next = before[1];
  sent_next.status_type_code = request_status::sent;
  sent_next.sent_to_interface_timestamp = bkr::test::sample_time(4s);
  auto succeeded_next = before[2];
  succeeded_next.status_type_code = request_status::succeeded;
  succeeded_next.reply_timestamp = bkr::test::sample_time(5s);
  succeeded_next.reply_message_text = "done";
  auto failed_next = before[3];
  failed_next.status_type_code = request_status::failed;
  failed_next.reply_timestamp = bkr::test::sample_time(6s);
  std::vector<bkr::storage::status_change> changes;
  for (const auto& [next, from] : std::vector<std::pair<bkr::domain::backup_request, request_status>>{
           {received_next, request_status::received},
           {sent_next, request_status::allowed},
           {succeeded_next, request_status::sent},
           {failed_next, request_status::sent}}) {
    auto in = next;
    in.prepared_data_path_name = "/tampered";
    in.accepted_timestamp = bkr::test::sample_time(-1h);
    changes.push_back({in, from, bkr::test::entry(next, from, bkr::test::sample_time(7s), "stage")});
  }
  unit_of_work uow(pool);
  CHECK(requests.update_status_many(uow, changes).size() == 4);
  CHECK(requests.find(uow, received_next.backup_request_id) == received_next);
  CHECK(requests.find(uow, sent_next.backup_request_id) == sent_next);
  CHECK(requests.find(uow, succeeded_next.backup_request_id) == succeeded_next);
  CHECK(requests.find(uow, failed_next.backup_request_id) == failed_next);
}
