// Upgrading a database of the former job table: migration mq/0003 moves the messages still waiting there
// (ready, delayed or leased by a worker of the old release) to the delay lane and drops the table, and a
// consumer then delivers each of them once.
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/migrations.hpp"
#include "harness.hpp"
#include "mq_test_support.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <vector>

using namespace std::chrono_literals;
using bkr::test::wait_until;

TEST_CASE("the job table's waiting messages move to the delay lane when it is dropped",
          "[messaging][upgrade]") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  pqxx::connection conn(db.conninfo());
  const auto all = bkr::messaging::postgres::mq_migrations();
  REQUIRE(all.migrations->size() >= 3);
  REQUIRE(all.migrations->at(2).name == "0003_drop_job_table.sql");
  // The schema as the former release left it: the first two mq migrations.
  const std::vector<bkr::storage::migration> old(all.migrations->begin(), all.migrations->begin() + 2);
  const std::vector<bkr::storage::migration_set> before{{"mq", &old}};
  REQUIRE(bkr::storage::migrate(conn, before).size() == 2);
  {
    pqxx::work tx(conn);
    // Ready, delayed (a retry due in the past by the time it is read), and leased with two attempts spent.
    tx.exec0(R"sql(
      INSERT INTO mq.messages (message_id, queue, run_at, leased_until, lease_owner, attempt, type, schema_version,
                               key, occurred_at, payload, dedup_key)
      VALUES ('0190f0f0-0000-7000-8000-000000000001', 'u.q', now(), NULL, NULL, 0, 'T', 1, 'ready', now(),
              '{"n": 1}', 'T:ready'),
             ('0190f0f0-0000-7000-8000-000000000002', 'u.q', now() + interval '200 milliseconds', NULL, NULL, 1,
              'T', 1, 'delayed', now(), '{"n": 2}', 'T:delayed'),
             ('0190f0f0-0000-7000-8000-000000000003', 'u.q', now(), now() + interval '5 seconds', 'old-worker', 2,
              'T', 1, 'leased', now(), '{"n": 3}', NULL))sql");
    tx.exec0("INSERT INTO mq.dedup_keys (queue, dedup_key) VALUES ('u.q', 'T:ready'), ('u.q', 'T:delayed')");
    tx.commit();
  }
  const std::vector<bkr::storage::migration_set> now{all};
  const auto applied = bkr::storage::migrate(conn, now);
  REQUIRE(applied.size() == all.migrations->size() - 2);
  CHECK(applied.front() == "mq/0003_drop_job_table.sql");
  {
    pqxx::read_transaction tx(conn);
    CHECK(tx.exec1("SELECT to_regclass('mq.messages') IS NULL AND to_regclass('mq.dedup_keys') IS NULL")[0]
              .as<bool>());
    CHECK(tx.exec1("SELECT count(*) FROM mq.delayed WHERE queue = 'u.q'")[0].as<int>() == 3);
  }

  bkr::storage::connection_pool pool({db.conninfo(), 2, 10s});
  std::mutex m;
  std::vector<std::pair<std::string, int>> seen;
  bkr::messaging::function_handler h(
      [&](const bkr::messaging::delivery& d, bkr::messaging::handler_context&) {
        std::lock_guard lock(m);
        seen.emplace_back(d.message.key, d.message.attempt);
        return bkr::messaging::handler_result::commit();
      });
  bkr::messaging::postgres::log_consumer c(pool, db.conninfo(), bkr::test::mq::fast("u.q"), h);
  c.start();
  REQUIRE(wait_until(
      [&] {
        std::lock_guard lock(m);
        return seen.size() >= 3;
      },
      10s));
  c.stop(1s);
  std::lock_guard lock(m);
  CHECK(seen.size() == 3);
  std::set<std::pair<std::string, int>> by_key(seen.begin(), seen.end());
  // Each runs with the attempts it had spent counted: the next delivery is attempt + 1.
  CHECK(by_key == std::set<std::pair<std::string, int>>{{"ready", 1}, {"delayed", 2}, {"leased", 3}});
  const auto s = bkr::messaging::postgres::log_admin(pool).stats_of("u.q");
  CHECK(s.ready + s.delayed == 0);
  CHECK(s.dead == 0);
}
