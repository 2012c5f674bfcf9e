// idempotency_key_repository: the first answer per (client, key) wins, also under concurrency.
#include "bkr/storage/idempotency_key_repository.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace std::chrono_literals;
using bkr::storage::connection_pool;
using bkr::storage::idempotent_response;
using bkr::storage::unit_of_work;

namespace {

bkr::storage::idempotency_key_repository keys;

idempotent_response answer(const std::string& id) {
  return idempotent_response{id, 202,
                             nlohmann::json{{"backupRequestId", id},
                                            {"statusTypeCode", "Accepted"},
                                            {"getOnStartFlag", true},
                                            {"nested", {{"list", {1, 2.5, nullptr, "ünï"}}}}}};
}

int backend_pid(unit_of_work& uow) {
  return uow.tx().exec("SELECT pg_backend_pid()")[0][0].as<int>();
}

// True once backend `pid` is blocked on a lock (here: waiting for the other transaction's key).
bool waits_on_lock(const std::string& conninfo, int pid) {
  return bkr::test::scalar(conninfo, "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) ==
         "Lock";
}

}  // namespace

TEST_CASE("the first answer for a key is stored and returned to every repeat") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto first = answer(bkr::new_uuid_v7());
  const auto second = answer(bkr::new_uuid_v7());
  {
    unit_of_work uow(pool);
    CHECK_FALSE(keys.find(uow, "scheduler", "key-1").has_value());
    const auto claim = keys.insert_if_absent(uow, "scheduler", "key-1", first);
    CHECK(claim.inserted);
    CHECK(claim.response == first);
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(keys.find(uow, "scheduler", "key-1") == first);
  const auto repeat = keys.insert_if_absent(uow, "scheduler", "key-1", second);
  CHECK_FALSE(repeat.inserted);
  CHECK(repeat.response == first);
  // Keys are per client.
  const auto other_client = keys.insert_if_absent(uow, "other", "key-1", second);
  CHECK(other_client.inserted);
  CHECK(keys.find(uow, "other", "key-1") == second);
}

TEST_CASE("a concurrent duplicate waits for the first transaction and gets its answer") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto first = answer(bkr::new_uuid_v7());
  const auto duplicate = answer(bkr::new_uuid_v7());
  const bool first_commits = GENERATE(true, false);

  std::optional<unit_of_work> owner(std::in_place, pool);
  REQUIRE(keys.insert_if_absent(*owner, "scheduler", "k", first).inserted);

  std::promise<int> pid;
  auto racer = std::async(std::launch::async, [&] {
    unit_of_work uow(pool);
    pid.set_value(backend_pid(uow));
    auto claim = keys.insert_if_absent(uow, "scheduler", "k", duplicate);
    uow.commit();
    return claim;
  });
  const int racer_pid = pid.get_future().get();
  REQUIRE(bkr::test::eventually([&] { return waits_on_lock(db.conninfo(), racer_pid); }));
  if (first_commits) {
    owner->commit();
  }
  owner.reset();  // rolls back unless committed

  const auto claim = racer.get();
  CHECK(claim.inserted == !first_commits);
  CHECK(claim.response == (first_commits ? first : duplicate));
  unit_of_work uow(pool);
  CHECK(keys.find(uow, "scheduler", "k") == claim.response);
}

TEST_CASE("purge_older_than removes keys recorded before the cutoff") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  unit_of_work uow(pool);
  keys.insert_if_absent(uow, "scheduler", "old", answer(bkr::new_uuid_v7()));
  uow.tx().exec("UPDATE idempotency_key SET created_at = now() - interval '2 days'");
  keys.insert_if_absent(uow, "scheduler", "new", answer(bkr::new_uuid_v7()));
  const auto cutoff = bkr::system_clock().now() - 24h;
  CHECK(keys.purge_older_than(uow, cutoff) == 1);
  CHECK_FALSE(keys.find(uow, "scheduler", "old").has_value());
  CHECK(keys.find(uow, "scheduler", "new").has_value());
  CHECK(keys.purge_older_than(uow, cutoff) == 0);
}

TEST_CASE("keys breaking the rules are refused") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto good = answer(bkr::new_uuid_v7());
  {
    unit_of_work uow(pool);
    CHECK_THROWS_AS(keys.insert_if_absent(uow, "scheduler", std::string(129, 'k'), good),
                    pqxx::check_violation);
  }
  {
    unit_of_work uow(pool);
    CHECK_THROWS_AS(keys.insert_if_absent(uow, "scheduler", "tab\there", good), pqxx::check_violation);
  }
  {
    unit_of_work uow(pool);
    auto bad_status = good;
    bad_status.status_code = 600;
    CHECK_THROWS_AS(keys.insert_if_absent(uow, "scheduler", "k", bad_status), pqxx::check_violation);
  }
  unit_of_work uow(pool);
  CHECK(keys.insert_if_absent(uow, "scheduler", std::string(128, '~'), good).inserted);
}
