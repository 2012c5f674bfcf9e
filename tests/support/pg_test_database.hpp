// A fresh database per test on the private cluster of the `pg` CTest fixture, dropped when the test ends.
#pragma once

#include <chrono>
#include <string>

namespace bkr::test {

/// The admin connection string of the fixture's cluster, read from $BKR_TEST_PG_DIR/conninfo. Fails the
/// current test (Catch2 FAIL) with a message saying how to get one when the variable or the file is missing.
std::string pg_admin_conninfo();

/// How CREATE DATABASE copies the template (PostgreSQL 15): WAL_LOG copies block by block through the
/// WAL, FILE_COPY copies files and checkpoints twice.
enum class clone_strategy { wal_log, file_copy };

/// One uniquely named database (`t_<random hex>`), created in the constructor and dropped (WITH (FORCE),
/// so open connections do not keep it alive) in the destructor. Not copyable or movable; use one per test,
/// on the test's thread. Must outlive every connection pool opened on it.
class pg_test_database {
 public:
  enum class kind {
    migrated,  ///< a clone of `bkr_template`, which holds every migration (the usual case)
    empty,     ///< an empty database, for tests of migrate() itself
  };

  explicit pg_test_database(kind k = kind::migrated, clone_strategy strategy = clone_strategy::wal_log);
  ~pg_test_database();
  pg_test_database(const pg_test_database&) = delete;
  pg_test_database& operator=(const pg_test_database&) = delete;

  /// A libpq keyword/value connection string for this database (the admin one with our dbname).
  const std::string& conninfo() const { return conninfo_; }
  const std::string& name() const { return name_; }
  /// How long CREATE DATABASE took.
  std::chrono::microseconds creation_time() const { return creation_time_; }

 private:
  std::string admin_;
  std::string name_;
  std::string conninfo_;
  std::chrono::microseconds creation_time_{};
};

/// An empty database (shorthand for pg_test_database(pg_test_database::kind::empty)).
inline constexpr pg_test_database::kind empty_database = pg_test_database::kind::empty;

}  // namespace bkr::test
