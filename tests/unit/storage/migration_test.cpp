// Pure parts of migrations: the checksum and the embedded set.
#include "bkr/storage/migration.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

TEST_CASE("migration_checksum is FNV-1a 64 in lowercase hex") {
  CHECK(bkr::storage::migration_checksum("") == "cbf29ce484222325");
  CHECK(bkr::storage::migration_checksum("a") == "af63dc4c8601ec8c");
  CHECK(bkr::storage::migration_checksum("foobar") == "85944171f73967e8");
  CHECK(bkr::storage::migration_checksum("CREATE TABLE a (x int);") !=
        bkr::storage::migration_checksum("CREATE TABLE a (x int); "));
}

TEST_CASE("the storage migrations are embedded with their versions, names and text") {
  const auto set = bkr::storage::storage_migrations();
  CHECK(set.component == "storage");
  REQUIRE(set.migrations != nullptr);
  REQUIRE_FALSE(set.migrations->empty());
  std::set<int> versions;
  int previous = 0;
  for (const auto& m : *set.migrations) {
    CHECK(m.version > previous);
    previous = m.version;
    versions.insert(m.version);
    CHECK(std::stoi(std::string(m.name)) == m.version);
    CHECK(m.name.ends_with(".sql"));
    CHECK_FALSE(m.sql.empty());
  }
  CHECK(set.migrations->front().version == 1);
  CHECK(set.migrations->front().sql.find("CREATE TABLE backup_request (") != std::string_view::npos);
}
