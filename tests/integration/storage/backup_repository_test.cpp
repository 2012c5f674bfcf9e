// backup_repository: one Backup per request, exact round trip of every field.
#include "bkr/storage/backup_repository.hpp"

#include "bkr/storage/backup_request_repository.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

#include <barrier>
#include <future>
#include <set>

using namespace std::chrono_literals;
using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

namespace {

bkr::storage::backup_repository backups;

bkr::domain::backup backup_for(const bkr::domain::backup_request& r) {
  using namespace std::chrono;
  bkr::domain::backup b;
  b.backup_id = bkr::new_uuid_v7();
  b.backup_request_id = r.backup_request_id;
  b.backup_job_id = r.backup_job_id;
  b.data_date = r.data_date;
  b.storage_path_name = "bucket-a/job-7/2026-11-21";
  b.backup_provider_code = bkr::domain::provider::cloud_a;
  b.days_to_keep_count = 30;
  b.hold_flag = true;
  b.backup_byte_count = 5'000'000'000'123LL;
  b.copy_start_timestamp = bkr::test::sample_time(10s);
  b.copy_end_timestamp = bkr::test::sample_time(20s + 7ms);
  b.data_date = year{2026} / November / day{21};
  b.due_to_delete_date = year{2026} / December / day{21};
  return b;
}

bkr::domain::backup_request stored_request(connection_pool& pool) {
  const auto r = bkr::test::received_request();
  unit_of_work uow(pool);
  bkr::storage::backup_request_repository requests;
  REQUIRE(requests.insert(uow, r, bkr::test::first_entry(r)));
  uow.commit();
  return r;
}

}  // namespace

TEST_CASE("insert_if_absent stores a Backup, find_by_request reads it back exactly") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  auto backup = backup_for(request);
  SECTION("with the optional fields empty") {}
  SECTION("with every optional field set") {
    backup.verify_start_timestamp = bkr::test::sample_time(21s + 1ms);
    backup.verify_end_timestamp = bkr::test::sample_time(22s + 999ms);
    backup.verify_hash_text = "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    backup.deleted_timestamp = bkr::test::sample_time(24h * 30);
  }
  {
    unit_of_work uow(pool);
    CHECK(backups.insert_if_absent(uow, backup));
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(backups.find_by_request(uow, request.backup_request_id) == backup);
}

TEST_CASE("a request has at most one Backup: the second insert is a no-op") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  const auto first = backup_for(request);
  auto second = backup_for(request);
  second.backup_byte_count = 1;
  unit_of_work uow(pool);
  CHECK(backups.insert_if_absent(uow, first));
  CHECK_FALSE(backups.insert_if_absent(uow, second));
  CHECK(backups.find_by_request(uow, request.backup_request_id) == first);
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup") == "0");  // not committed yet
  uow.commit();
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup") == "1");
}

TEST_CASE("two concurrent inserts for one request create one Backup") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  for (int round = 0; round < 10; ++round) {
    const auto request = stored_request(pool);
    std::barrier ready(2);
    auto insert = [&] {
      unit_of_work uow(pool);
      const auto b = backup_for(request);
      ready.arrive_and_wait();
      const bool inserted = backups.insert_if_absent(uow, b);
      uow.commit();
      return inserted;
    };
    auto a = std::async(std::launch::async, insert);
    auto b = std::async(std::launch::async, insert);
    const bool a_inserted = a.get();
    const bool b_inserted = b.get();
    CHECK(a_inserted != b_inserted);
  }
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup") == "10");
}

TEST_CASE("find_by_request of a request without Backup, or of a malformed id, is empty") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  unit_of_work uow(pool);
  CHECK_FALSE(backups.find_by_request(uow, request.backup_request_id).has_value());
  CHECK_FALSE(backups.find_by_request(uow, "nope").has_value());
}

TEST_CASE("insert_many_if_absent stores new Backups, requests_with_backup tells which requests have one") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto with_one = stored_request(pool), first = stored_request(pool), second = stored_request(pool),
             without = stored_request(pool);
  const auto earlier = backup_for(with_one);
  {
    unit_of_work uow(pool);
    REQUIRE(backups.insert_if_absent(uow, earlier));
    uow.commit();
  }
  auto first_backup = backup_for(first);
  first_backup.verify_start_timestamp = bkr::test::sample_time(21s);
  first_backup.verify_end_timestamp = bkr::test::sample_time(22s);
  first_backup.verify_hash_text = "sha256:\"abc\"";
  const std::vector<bkr::domain::backup> batch{first_backup, backup_for(second), backup_for(with_one)};
  unit_of_work uow(pool);
  CHECK(backups.insert_many_if_absent(uow, batch) ==
        std::set<std::string>{first.backup_request_id, second.backup_request_id});
  CHECK(backups.find_by_request(uow, first.backup_request_id) == first_backup);
  CHECK(backups.find_by_request(uow, second.backup_request_id) == batch[1]);
  CHECK(backups.find_by_request(uow, with_one.backup_request_id) == earlier);  // the first one stays
  const std::vector<std::string> ids{with_one.backup_request_id, first.backup_request_id,
                                     without.backup_request_id, "no-such-request"};
  CHECK(backups.requests_with_backup(uow, ids) ==
        std::set<std::string>{with_one.backup_request_id, first.backup_request_id});
  CHECK(backups.requests_with_backup(uow, std::vector<std::string>{}).empty());
  CHECK(backups.insert_many_if_absent(uow, std::vector<bkr::domain::backup>{}).empty());
  const std::vector<bkr::domain::backup> twice{backup_for(without), backup_for(without)};
  CHECK_THROWS_AS(backups.insert_many_if_absent(uow, twice), std::invalid_argument);
}
