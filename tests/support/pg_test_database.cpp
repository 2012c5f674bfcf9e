// Creating and dropping the per-test databases on the fixture's cluster.
#include "pg_test_database.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <sstream>

// libpqxx 6.4 leaks the PGresult of a statement that fails because its connection broke (a few hundred bytes
// per lost connection, inside the library). Tests that terminate backends on purpose would otherwise fail
// under LeakSanitizer (the `dev` preset); leaks in our own code are still reported. Linked into every suite
// that uses this file; without a sanitizer nothing calls it.
extern "C" const char* __lsan_default_suppressions();
extern "C" const char* __lsan_default_suppressions() {
  return "leak:libpqxx-6.4.so\n";
}

namespace bkr::test {

namespace {

std::string random_database_name() {
  std::random_device entropy;
  std::uint64_t bits = (static_cast<std::uint64_t>(entropy()) << 32) ^ entropy();
  static constexpr char digits[] = "0123456789abcdef";
  std::string name = "t_";
  for (int i = 0; i < 16; ++i) {
    name += digits[bits & 0xfU];
    bits >>= 4;
  }
  return name;
}

std::string trim(std::string text) {
  const auto first = text.find_first_not_of(" \t\r\n");
  if (first == std::string::npos)
    return {};
  const auto last = text.find_last_not_of(" \t\r\n");
  return text.substr(first, last - first + 1);
}

}  // namespace

std::string pg_admin_conninfo() {
  const char* dir = std::getenv("BKR_TEST_PG_DIR");
  if (dir == nullptr || *dir == '\0') {
    FAIL(
        "BKR_TEST_PG_DIR is not set: run integration tests through ctest (the `pg` fixture starts the "
        "Postgres cluster and sets it)");
  }
  const std::string path = std::string(dir) + "/conninfo";
  std::ifstream file(path);
  if (!file) {
    FAIL("no Postgres cluster: " << path
                                 << " is missing (run through ctest so that the pg:start fixture runs first, "
                                    "or start one with tests/support/pg_cluster.sh start <dir> <bkrctl>)");
  }
  std::stringstream text;
  text << file.rdbuf();
  auto conninfo = trim(text.str());
  if (conninfo.empty())
    FAIL(path << " is empty");
  return conninfo;
}

pg_test_database::pg_test_database(kind k, clone_strategy strategy)
    : admin_(pg_admin_conninfo()), name_(random_database_name()) {
  // libpq keeps the last value of a repeated keyword, so this selects our database.
  conninfo_ = admin_ + " dbname=" + name_;
  // Identifiers cannot be statement parameters; the name is ours (t_ and hex digits) and quoted anyway.
  pqxx::connection admin(admin_);
  std::string sql = "CREATE DATABASE " + admin.quote_name(name_);
  if (k == kind::migrated) {
    sql += " TEMPLATE bkr_template STRATEGY ";
    sql += strategy == clone_strategy::wal_log ? "WAL_LOG" : "FILE_COPY";
  } else {
    // template0 never holds anything; template1 might, on a cluster someone changed.
    sql += " TEMPLATE template0";
  }
  const auto started = std::chrono::steady_clock::now();
  pqxx::nontransaction tx(admin);
  tx.exec(sql);
  creation_time_ =
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - started);
}

pg_test_database::~pg_test_database() {
  try {
    pqxx::connection admin(admin_);
    pqxx::nontransaction tx(admin);
    tx.exec("DROP DATABASE IF EXISTS " + admin.quote_name(name_) + " WITH (FORCE)");
  } catch (const std::exception& e) {
    // A destructor must not throw; a leftover database dies with the fixture's cluster.
    std::cerr << "pg_test_database: could not drop " << name_ << ": " << e.what() << "\n";
  }
}

}  // namespace bkr::test
