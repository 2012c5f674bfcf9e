// backup_job_repository: the local job registry.
#include "bkr/storage/backup_job_repository.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

TEST_CASE("upsert creates and then replaces a job, find reads it back") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::backup_job_repository jobs;
  bkr::domain::backup_job job{"job-7", "bucket-a/job-7", bkr::domain::provider::cloud_a, 30, true, false};
  {
    unit_of_work uow(pool);
    CHECK_FALSE(jobs.find(uow, job.backup_job_id).has_value());
    jobs.upsert(uow, job);
    uow.commit();
  }
  {
    unit_of_work uow(pool);
    CHECK(jobs.find(uow, job.backup_job_id) == job);
    job.storage_path_name = "";
    job.backup_provider_code = bkr::domain::provider::local;
    job.days_to_keep = 0;
    job.is_active = false;
    job.hold_flag = true;
    jobs.upsert(uow, job);
    uow.commit();
  }
  unit_of_work uow(pool);
  CHECK(jobs.find(uow, job.backup_job_id) == job);
  CHECK_FALSE(jobs.find(uow, "job-8").has_value());
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT count(*) FROM backup_job") == "1");
}

TEST_CASE("a job breaking the schema's rules is refused") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::backup_job_repository jobs;
  const bkr::domain::backup_job good{"job-7", "bucket", bkr::domain::provider::local, 1, true, false};
  auto bad_days = good;
  bad_days.days_to_keep = -1;
  auto bad_id = good;
  bad_id.backup_job_id = "job 7";
  auto long_id = good;
  long_id.backup_job_id = std::string(51, 'j');
  auto long_path = good;
  long_path.storage_path_name = std::string(251, 'p');
  for (const auto& job : {bad_days, bad_id, long_id, long_path}) {
    unit_of_work uow(pool);
    CHECK_THROWS_AS(jobs.upsert(uow, job), pqxx::check_violation);
  }
}
