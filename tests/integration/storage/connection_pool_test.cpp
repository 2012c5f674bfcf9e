// The connection pool against a real server: lazy opening, bound and timeout, failures, replacement.
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <future>
#include <optional>

using namespace std::chrono_literals;
using bkr::storage::connection_pool;
using bkr::storage::database_unavailable;

namespace {

int backends_on(const bkr::test::pg_test_database& db) {
  pqxx::connection admin(bkr::test::pg_admin_conninfo());
  pqxx::nontransaction tx(admin);
  return tx.exec_params("SELECT count(*) FROM pg_stat_activity WHERE datname = $1", db.name())[0][0]
      .as<int>();
}

int backend_pid(connection_pool::lease& lease) {
  pqxx::nontransaction tx(lease.conn());
  return tx.exec("SELECT pg_backend_pid()")[0][0].as<int>();
}

}  // namespace

TEST_CASE("the pool opens connections only when they are first needed, up to its size") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 2));
  CHECK(backends_on(db) == 0);
  {
    auto first = pool.acquire();
    CHECK(backends_on(db) == 1);
    auto second = pool.acquire();
    CHECK(backends_on(db) == 2);
    CHECK(backend_pid(first) != backend_pid(second));
  }
  // Returned connections are reused, not reopened.
  auto again = pool.acquire();
  backend_pid(again);
  CHECK(backends_on(db) == 2);
}

TEST_CASE("acquire gives up with database_unavailable when every connection stays leased") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1, 200ms));
  auto held = pool.acquire();
  const auto started = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(pool.acquire(), database_unavailable);
  CHECK(std::chrono::steady_clock::now() - started >= 200ms);
  try {
    pool.acquire();
  } catch (const database_unavailable& e) {
    CHECK(e.retryable());
    CHECK_THAT(e.what(), Catch::Contains("no database connection became free"));
  }
}

TEST_CASE("a waiting acquire gets the connection another thread gives back") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1, 10s));
  std::optional<connection_pool::lease> held(pool.acquire());
  const int held_pid = backend_pid(*held);
  std::promise<void> waiting;
  auto waiter = std::async(std::launch::async, [&] {
    waiting.set_value();
    auto lease = pool.acquire();
    return backend_pid(lease);
  });
  waiting.get_future().wait();
  held.reset();
  CHECK(waiter.get() == held_pid);
}

TEST_CASE("an unreachable database raises database_unavailable") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo() + " dbname=no_such_database_here", 1, 2s));
  try {
    pool.acquire();
    FAIL("acquire succeeded on a database that does not exist");
  } catch (const database_unavailable& e) {
    CHECK(e.retryable());
    CHECK_THAT(e.what(), Catch::Contains("no_such_database_here"));
  }
  // The failed attempt did not use up the pool's only place.
  connection_pool good(bkr::test::pool_for(db.conninfo(), 1, 2s));
  CHECK_NOTHROW(good.acquire());
  CHECK_THROWS_AS(pool.acquire(), database_unavailable);
}

TEST_CASE("a connection whose backend was terminated is replaced on the next acquire") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
  int first_pid = 0;
  {
    auto lease = pool.acquire();
    lease.prepare("bkr_test_one", "SELECT 1");
    first_pid = backend_pid(lease);
  }
  REQUIRE(bkr::test::terminate_backend(bkr::test::pg_admin_conninfo(), first_pid));

  SECTION("through a unit of work") {
    bkr::storage::unit_of_work uow(pool);
    const int pid = uow.tx().exec("SELECT pg_backend_pid()")[0][0].as<int>();
    CHECK(pid != first_pid);
    uow.commit();
  }
  SECTION("through a bare lease, whose prepared statements start afresh") {
    auto lease = pool.acquire();
    CHECK(backend_pid(lease) != first_pid);
    static const std::string name = "bkr_test_one";
    lease.prepare(name, "SELECT 1");
    pqxx::nontransaction tx(lease.conn());
    CHECK(tx.exec_prepared(name)[0][0].as<int>() == 1);
  }
}

TEST_CASE("a connection that broke while leased is not handed out again") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
  int first_pid = 0;
  {
    auto lease = pool.acquire();
    first_pid = backend_pid(lease);
    REQUIRE(bkr::test::terminate_backend(bkr::test::pg_admin_conninfo(), first_pid));
    CHECK_THROWS(backend_pid(lease));
  }
  auto lease = pool.acquire();
  CHECK(backend_pid(lease) != first_pid);
}

TEST_CASE("prepared statements are prepared once per connection") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
  static const std::string name = "bkr_test_add";
  {
    auto lease = pool.acquire();
    lease.prepare(name, "SELECT $1::int + 1");
    lease.prepare(name, "SELECT $1::int + 1");
    pqxx::nontransaction tx(lease.conn());
    CHECK(tx.exec_prepared(name, 41)[0][0].as<int>() == 42);
  }
  auto lease = pool.acquire();
  lease.prepare(name, "SELECT $1::int + 1");
  pqxx::nontransaction tx(lease.conn());
  CHECK(tx.exec_prepared(name, 1)[0][0].as<int>() == 2);
  CHECK(tx.exec("SELECT count(*) FROM pg_prepared_statements WHERE name = 'bkr_test_add'")[0][0].as<int>() ==
        1);
}

TEST_CASE("a pool of size zero is refused") {
  CHECK_THROWS_AS(connection_pool(bkr::storage::pool_options{"host=127.0.0.1", 0, 1s}),
                  std::invalid_argument);
}

TEST_CASE("the server ends a transaction a pooled session leaves idle, so the log's watermark moves on") {
  bkr::test::pg_test_database db;
  SECTION("by default after 5 s") {
    connection_pool pool(bkr::test::pool_for(db.conninfo(), 1));
    auto lease = pool.acquire();
    pqxx::nontransaction tx(lease.conn());
    CHECK(tx.exec("SHOW idle_in_transaction_session_timeout")[0][0].as<std::string>() == "5s");
  }
  SECTION("zero leaves the server's setting") {
    auto options = bkr::test::pool_for(db.conninfo(), 1);
    options.idle_in_transaction_timeout = 0ms;
    connection_pool pool(options);
    auto lease = pool.acquire();
    pqxx::nontransaction tx(lease.conn());
    CHECK(tx.exec("SHOW idle_in_transaction_session_timeout")[0][0].as<std::string>() == "0");
  }
  SECTION("a negative bound is refused") {
    auto options = bkr::test::pool_for(db.conninfo(), 1);
    options.idle_in_transaction_timeout = -1ms;
    CHECK_THROWS_AS(connection_pool(options), std::invalid_argument);
  }
  SECTION("a writing transaction left open (a stopped process) is ended after the bound") {
    auto options = bkr::test::pool_for(db.conninfo(), 1);
    options.idle_in_transaction_timeout = 300ms;
    connection_pool pool(options);
    std::optional<bkr::storage::unit_of_work> held(std::in_place, pool);
    const auto xid = held->tx().exec("SELECT pg_current_xact_id()::text")[0][0].as<std::string>();
    pqxx::connection admin(db.conninfo());
    const auto watermark_passed = [&] {
      pqxx::nontransaction a(admin);
      return a.exec_params1("SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8", xid)[0].as<bool>();
    };
    CHECK_FALSE(watermark_passed());  // held back while it runs
    CHECK(bkr::test::eventually(watermark_passed, 10s));
    // The session that held it learns at its next statement; the pool hands out a working one after.
    CHECK_THROWS_AS(bkr::storage::with_database_errors([&] { return held->tx().exec("SELECT 1"); }),
                    database_unavailable);
    held.reset();
    auto lease = pool.acquire();
    pqxx::nontransaction tx(lease.conn());
    CHECK(tx.exec("SELECT 1")[0][0].as<int>() == 1);
  }
}

TEST_CASE("pooled sessions carry the application name given") {
  bkr::test::pg_test_database db;
  auto options = bkr::test::pool_for(db.conninfo(), 1);
  options.application_name = "bkr-pool-test";
  connection_pool pool(options);
  auto lease = pool.acquire();
  pqxx::nontransaction tx(lease.conn());
  CHECK(tx.exec("SELECT application_name FROM pg_stat_activity WHERE pid = pg_backend_pid()")[0][0]
            .as<std::string>() == "bkr-pool-test");
}
