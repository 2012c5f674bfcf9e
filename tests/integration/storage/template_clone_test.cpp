// How long each test pays for its own database: CREATE DATABASE ... TEMPLATE bkr_template, both strategies.
// A measurement, not a check of behaviour, so it is hidden from the normal run; run it with
//   BKR_TEST_PG_DIR=<fixture dir> bkr_integration_storage "[clone-timing]"
#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <iostream>
#include <vector>

namespace {

struct clone_timing {
  double median_ms;
  double max_ms;
};

clone_timing time_clones(bkr::test::clone_strategy strategy, int count) {
  std::vector<double> ms;
  for (int i = 0; i < count; ++i) {
    bkr::test::pg_test_database db(bkr::test::pg_test_database::kind::migrated, strategy);
    ms.push_back(static_cast<double>(db.creation_time().count()) / 1000.0);
    CHECK(bkr::test::scalar(db.conninfo(), "SELECT to_regclass('backup_request') IS NOT NULL") == "t");
  }
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.back()};
}

}  // namespace

TEST_CASE("cloning the migrated template with WAL_LOG and with FILE_COPY", "[.][clone-timing]") {
  constexpr int clones = 7;
  const auto wal_log = time_clones(bkr::test::clone_strategy::wal_log, clones);
  const auto file_copy = time_clones(bkr::test::clone_strategy::file_copy, clones);
  std::cout << "template clone over " << clones << " databases: WAL_LOG median " << wal_log.median_ms
            << " ms (max " << wal_log.max_ms << "), FILE_COPY median " << file_copy.median_ms << " ms (max "
            << file_copy.max_ms << ")\n";
}
