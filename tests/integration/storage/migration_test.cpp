// migrate(): applying in order, exactly once under concurrency, refusing edited migrations, failures.
#include "bkr/storage/migration.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <barrier>
#include <future>
#include <map>
#include <thread>

namespace {

using bkr::storage::migration;
using bkr::storage::migration_set;

std::vector<std::string> migrate_on(const std::string& conninfo, const std::vector<migration_set>& sets) {
  pqxx::connection conn(conninfo);
  return bkr::storage::migrate(conn, sets);
}

std::vector<std::string> storage_names() {
  std::vector<std::string> names;
  for (const auto& m : *bkr::storage::storage_migrations().migrations)
    names.push_back("storage/" + std::string(m.name));
  return names;
}

}  // namespace

TEST_CASE("migrate applies the storage migrations to an empty database once") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  const std::vector<migration_set> sets{bkr::storage::storage_migrations()};
  REQUIRE_FALSE(storage_names().empty());
  CHECK(migrate_on(db.conninfo(), sets) == storage_names());
  CHECK(migrate_on(db.conninfo(), sets).empty());
  CHECK(bkr::test::scalar(db.conninfo(),
                          "SELECT count(*) FROM bkr_schema_migrations WHERE component = 'storage'") ==
        std::to_string(storage_names().size()));
  const auto& first = bkr::storage::storage_migrations().migrations->front();
  CHECK(bkr::test::scalar(
            db.conninfo(), "SELECT checksum FROM bkr_schema_migrations WHERE component = $1 AND version = $2",
            std::string("storage"), first.version) == bkr::storage::migration_checksum(first.sql));
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('backup_request') IS NOT NULL") == "t");
}

TEST_CASE("the template every test clones is migrated with the same storage migrations") {
  bkr::test::pg_test_database db;
  const std::vector<migration_set> sets{bkr::storage::storage_migrations()};
  CHECK(migrate_on(db.conninfo(), sets).empty());
}

TEST_CASE("concurrent migrate calls apply each migration exactly once") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  static const std::vector<migration> extra{
      {1, "0001_counter.sql", "CREATE TABLE counter (n int NOT NULL); INSERT INTO counter VALUES (0);"},
      {2, "0002_bump.sql", "UPDATE counter SET n = n + 1;"},
      {3, "0003_bump_again.sql", "SELECT pg_sleep(0.05); UPDATE counter SET n = n + 1;"},
  };
  const std::vector<migration_set> sets{bkr::storage::storage_migrations(), {"test", &extra}};
  constexpr int callers = 6;
  std::barrier start(callers);
  std::vector<std::future<std::vector<std::string>>> results;
  for (int i = 0; i < callers; ++i) {
    results.push_back(std::async(std::launch::async, [&] {
      pqxx::connection conn(db.conninfo());
      start.arrive_and_wait();
      return bkr::storage::migrate(conn, sets);
    }));
  }
  std::map<std::string, int> applied;
  int callers_that_applied = 0;
  for (auto& r : results) {
    const auto names = r.get();
    if (!names.empty())
      ++callers_that_applied;
    for (const auto& n : names)
      ++applied[n];
  }
  auto expected = storage_names();
  expected.insert(expected.end(),
                  {"test/0001_counter.sql", "test/0002_bump.sql", "test/0003_bump_again.sql"});
  CHECK(callers_that_applied == 1);
  CHECK(applied.size() == expected.size());
  for (const auto& n : expected)
    CHECK(applied[n] == 1);
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT n FROM counter") == "2");
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM bkr_schema_migrations") ==
        std::to_string(expected.size()));
}

TEST_CASE("an applied migration whose text changed is refused, naming it, before anything else runs") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  static const std::vector<migration> original{{1, "0001_a.sql", "CREATE TABLE a (x int);"}};
  static const std::vector<migration> edited{{1, "0001_a.sql", "CREATE TABLE a (x bigint);"},
                                             {2, "0002_b.sql", "CREATE TABLE b (x int);"}};
  REQUIRE(migrate_on(db.conninfo(), {{"test", &original}}) == std::vector<std::string>{"test/0001_a.sql"});
  try {
    migrate_on(db.conninfo(), {{"test", &edited}});
    FAIL("an edited migration was accepted");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(),
               Catch::Contains("test/0001_a.sql") && Catch::Contains("changed after it was applied"));
  }
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('b') IS NULL") == "t");
  // The lock was released: another run on the same database proceeds.
  CHECK(migrate_on(db.conninfo(), {{"test", &original}}).empty());
}

TEST_CASE("a failing migration names itself, rolls back alone and keeps the ones before it") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  static const std::vector<migration> set{{1, "0001_ok.sql", "CREATE TABLE ok (x int);"},
                                          {2, "0002_broken.sql", "CREATE TABLE half (x int); SELECT 1 / 0;"},
                                          {3, "0003_later.sql", "CREATE TABLE later (x int);"}};
  try {
    migrate_on(db.conninfo(), {{"test", &set}});
    FAIL("a failing migration was reported as applied");
  } catch (const std::runtime_error& e) {
    CHECK_THAT(e.what(), Catch::Contains("test/0002_broken.sql"));
  }
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('ok') IS NOT NULL") == "t");
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('half') IS NULL") == "t");
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('later') IS NULL") == "t");
  CHECK(bkr::test::scalar(db.conninfo(),
                          "SELECT string_agg(name, ',' ORDER BY version) FROM bkr_schema_migrations") ==
        "0001_ok.sql");
}

TEST_CASE("migrations are applied in version order whatever order the set lists them in") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  static const std::vector<migration> set{{2, "0002_second.sql", "ALTER TABLE t ADD COLUMN y int;"},
                                          {1, "0001_first.sql", "CREATE TABLE t (x int);"}};
  CHECK(migrate_on(db.conninfo(), {{"test", &set}}) ==
        std::vector<std::string>{"test/0001_first.sql", "test/0002_second.sql"});
}

TEST_CASE("two migrations sharing a version are refused") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  static const std::vector<migration> set{{1, "0001_a.sql", "SELECT 1;"}, {1, "0001_b.sql", "SELECT 2;"}};
  CHECK_THROWS_WITH(migrate_on(db.conninfo(), {{"test", &set}}), Catch::Contains("share version 1"));
}
