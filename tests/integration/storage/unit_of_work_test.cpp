// Units of work: commit, rollback on destruction, after-commit hooks, connection loss at commit.
#include "bkr/storage/unit_of_work.hpp"

#include "bkr/storage/backup_request_repository.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <future>

using namespace std::chrono_literals;
using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

namespace {

std::size_t request_rows(const bkr::test::pg_test_database& db) {
  return std::stoul(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup_request"));
}

std::size_t history_rows(const bkr::test::pg_test_database& db) {
  return std::stoul(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup_request_history"));
}

}  // namespace

TEST_CASE("a committed unit of work is visible to others and runs its hooks in order afterwards") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::backup_request_repository requests;
  const auto request = bkr::test::received_request();
  std::vector<int> calls;
  {
    unit_of_work uow(pool);
    REQUIRE(requests.insert(uow, request, bkr::test::first_entry(request)));
    uow.after_commit([&] {
      // The hook runs after the commit: another connection already sees the row.
      calls.push_back(static_cast<int>(request_rows(db)));
    });
    uow.after_commit([&] { calls.push_back(-1); });
    CHECK(calls.empty());
    CHECK_FALSE(uow.committed());
    uow.commit();
    CHECK(uow.committed());
  }
  CHECK(calls == std::vector<int>{1, -1});
  unit_of_work reader(pool);
  CHECK(requests.find(reader, request.backup_request_id) == request);
}

TEST_CASE("a unit of work destroyed without commit leaves nothing and runs no hook") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::backup_request_repository requests;
  const auto request = bkr::test::received_request();
  bool hook_ran = false;
  {
    unit_of_work uow(pool);
    REQUIRE(requests.insert(uow, request, bkr::test::first_entry(request)));
    uow.after_commit([&] { hook_ran = true; });
    CHECK(requests.find(uow, request.backup_request_id).has_value());
  }
  CHECK_FALSE(hook_ran);
  CHECK(request_rows(db) == 0);
  CHECK(history_rows(db) == 0);
  unit_of_work uow(pool);
  CHECK_FALSE(requests.find(uow, request.backup_request_id).has_value());
  CHECK(requests.history(uow, request.backup_request_id).empty());
}

TEST_CASE("a hook that throws does not turn a successful commit into a failure") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bool second_ran = false;
  unit_of_work uow(pool);
  uow.tx().exec("CREATE TABLE t (x int)");
  uow.after_commit([] { throw std::runtime_error("hook failed"); });
  uow.after_commit([&] { second_ran = true; });
  CHECK_NOTHROW(uow.commit());
  CHECK(second_ran);
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('t') IS NOT NULL") == "t");
}

TEST_CASE("losing the connection before commit raises database_unavailable and runs no hook") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
  bkr::storage::backup_request_repository requests;
  const auto request = bkr::test::received_request();
  bool hook_ran = false;
  {
    unit_of_work uow(pool);
    REQUIRE(requests.insert(uow, request, bkr::test::first_entry(request)));
    const int pid = uow.tx().exec("SELECT pg_backend_pid()")[0][0].as<int>();
    uow.after_commit([&] { hook_ran = true; });
    REQUIRE(bkr::test::terminate_backend(bkr::test::pg_admin_conninfo(), pid));
    try {
      uow.commit();
      FAIL("commit succeeded on a terminated connection");
    } catch (const bkr::storage::database_unavailable& e) {
      CHECK(e.retryable());
    }
    CHECK_FALSE(uow.committed());
  }
  CHECK_FALSE(hook_ran);
  CHECK(request_rows(db) == 0);
  // The pool recovers: the next unit of work gets a new connection.
  unit_of_work uow(pool);
  CHECK_FALSE(requests.find(uow, request.backup_request_id).has_value());
}

TEST_CASE("a repository call on a lost connection raises database_unavailable") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
  bkr::storage::backup_request_repository requests;
  unit_of_work uow(pool);
  const int pid = uow.tx().exec("SELECT pg_backend_pid()")[0][0].as<int>();
  REQUIRE(bkr::test::terminate_backend(bkr::test::pg_admin_conninfo(), pid));
  CHECK_THROWS_AS(requests.find(uow, bkr::new_uuid_v7()), bkr::storage::database_unavailable);
}

TEST_CASE("with_database_errors leaves errors that are not about the connection alone") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  unit_of_work uow(pool);
  CHECK_THROWS_AS(bkr::storage::with_database_errors([&] { return uow.tx().exec("SELECT 1 / 0"); }),
                  pqxx::data_exception);
  CHECK(bkr::storage::with_database_errors([] { return 7; }) == 7);
}

TEST_CASE("a deadlock surfaces as a retryable transaction_conflict") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  {
    unit_of_work setup(pool);
    setup.tx().exec("CREATE TABLE pair (id int PRIMARY KEY, n int); INSERT INTO pair VALUES (1, 0), (2, 0)");
    setup.commit();
  }
  unit_of_work first(pool);
  unit_of_work second(pool);
  first.tx().exec("UPDATE pair SET n = n + 1 WHERE id = 1");
  second.tx().exec("UPDATE pair SET n = n + 1 WHERE id = 2");
  const int second_pid = second.tx().exec("SELECT pg_backend_pid()")[0][0].as<int>();
  // `second` waits for `first`'s row 1 lock; then `first` asks for row 2 and one of them is chosen as victim.
  auto blocked = std::async(std::launch::async, [&]() -> std::string {
    try {
      bkr::storage::with_database_errors([&] { second.tx().exec("UPDATE pair SET n = n + 1 WHERE id = 1"); });
      return "ok";
    } catch (const bkr::storage::transaction_conflict& e) {
      return e.retryable() ? "conflict" : "not retryable";
    }
  });
  REQUIRE(bkr::test::eventually([&] {
    return bkr::test::scalar(db.conninfo(), "SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                             second_pid) == "Lock";
  }));
  std::string first_outcome;
  try {
    bkr::storage::with_database_errors([&] { first.tx().exec("UPDATE pair SET n = n + 1 WHERE id = 2"); });
    first_outcome = "ok";
  } catch (const bkr::storage::transaction_conflict& e) {
    first_outcome = e.retryable() ? "conflict" : "not retryable";
  }
  if (first_outcome == "ok")
    first.commit();
  const auto second_outcome = blocked.get();
  CHECK(((first_outcome == "conflict") != (second_outcome == "conflict")));
  CHECK(((first_outcome == "ok") != (second_outcome == "ok")));
}
