// The schema's own guarantees: append-only history, one Backup per request, value checks, precision.
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include "pg_test_database.hpp"
#include "storage_samples.hpp"

#include <catch2/catch.hpp>

using bkr::storage::connection_pool;
using bkr::storage::unit_of_work;

namespace {

bkr::domain::backup_request stored_request(connection_pool& pool) {
  const auto r = bkr::test::received_request();
  unit_of_work uow(pool);
  bkr::storage::backup_request_repository requests;
  REQUIRE(requests.insert(uow, r, bkr::test::first_entry(r)));
  uow.commit();
  return r;
}

// Runs `sql` with `params` in its own transaction; names the kind of error it failed with ("" on success).
// libpqxx 6 reports known SQLSTATEs as exception types (with sqlstate() left empty), so types are compared.
template <class... Params>
std::string failure_of(connection_pool& pool, const std::string& sql, const Params&... params) {
  unit_of_work uow(pool);
  try {
    uow.tx().exec_params(sql, params...);
    return "";
  } catch (const pqxx::check_violation&) {
    return "check_violation";
  } catch (const pqxx::unique_violation&) {
    return "unique_violation";
  } catch (const pqxx::insufficient_privilege&) {
    return "insufficient_privilege";
  } catch (const pqxx::sql_error& e) {
    return std::string("other: ") + e.what();
  }
}

const std::string insert_request =
    "INSERT INTO backup_request (backup_request_id, backup_job_id, data_date, prepared_data_path_name,"
    " get_on_start_flag, transport_type_code, status_type_code, requester_id, backup_provider_code,"
    " storage_path_name, reply_message_text) VALUES (gen_random_uuid(), $1, '2026-01-01', $2, true, $3, $4, "
    "$5, $6,"
    " $7, $8)";

struct request_columns {
  std::string job_id = "job-1";
  std::string path = "/data";
  std::string transport = "HTTP";
  std::string status = "Received";
  std::string requester = "client";
  std::string provider = "Local";
  std::string storage_path = "bucket";
  std::string reply = "ok";
};

std::string insert_with(connection_pool& pool, const request_columns& c) {
  return failure_of(pool, insert_request, c.job_id, c.path, c.transport, c.status, c.requester, c.provider,
                    c.storage_path, c.reply);
}

}  // namespace

TEST_CASE("the history is append-only: UPDATE, DELETE and TRUNCATE fail") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  constexpr auto insufficient_privilege = "insufficient_privilege";
  CHECK(failure_of(pool, "UPDATE backup_request_history SET stage = 'rewritten'") == insufficient_privilege);
  CHECK(failure_of(pool, "DELETE FROM backup_request_history") == insufficient_privilege);
  CHECK(failure_of(pool, "TRUNCATE backup_request_history") == insufficient_privilege);
  CHECK(bkr::test::scalar(db.conninfo(), "SELECT stage FROM backup_request_history") == "create-request");
  // Appending still works.
  CHECK(failure_of(pool,
                   "INSERT INTO backup_request_history (backup_request_id, to_status, at, stage)"
                   " VALUES ($1, 'Allowed', now(), 'check-allowed')",
                   request.backup_request_id) == "");
}

TEST_CASE("a second Backup row for one request violates the unique key") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  const std::string insert_backup =
      "INSERT INTO backup (backup_id, backup_request_id, backup_job_id, data_date, storage_path_name,"
      " backup_provider_code, days_to_keep_count, hold_flag, backup_byte_count, copy_start_timestamp,"
      " copy_end_timestamp, due_to_delete_date) VALUES (gen_random_uuid(), $1, 'job-7', '2026-01-01', "
      "'b',"
      " 'Local', 1, false, 10, now(), now(), '2026-01-02')";
  unit_of_work uow(pool);
  uow.tx().exec_params(insert_backup, request.backup_request_id);
  CHECK_THROWS_AS(uow.tx().exec_params(insert_backup, request.backup_request_id), pqxx::unique_violation);
}

TEST_CASE("check constraints refuse values outside DOMAIN.md's rules") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  constexpr auto check_violation = "check_violation";
  REQUIRE(insert_with(pool, {}) == "");

  request_columns c;
  SECTION("status") {
    c.status = "Done";
  }
  SECTION("transport") {
    c.transport = "http";
  }
  SECTION("provider") {
    c.provider = "CloudC";
  }
  SECTION("job id with whitespace") {
    c.job_id = "job 1";
  }
  SECTION("empty job id") {
    c.job_id = "";
  }
  SECTION("job id over 50") {
    c.job_id = std::string(51, 'j');
  }
  SECTION("empty prepared path") {
    c.path = "";
  }
  SECTION("prepared path over 250") {
    c.path = std::string(251, 'p');
  }
  SECTION("requester over 256") {
    c.requester = std::string(257, 'r');
  }
  SECTION("storage path over 250") {
    c.storage_path = std::string(251, 's');
  }
  SECTION("reply text over 250") {
    c.reply = std::string(251, 'm');
  }
  CHECK(insert_with(pool, c) == check_violation);
}

TEST_CASE("limits are counted in characters, not bytes") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  request_columns c;
  std::string path;
  for (int i = 0; i < 250; ++i)
    path += "é";
  c.path = path;
  CHECK(insert_with(pool, c) == "");
}

TEST_CASE("timestamps keep exactly milliseconds and dates are plain calendar dates") {
  bkr::test::pg_test_database db;
  connection_pool pool(bkr::test::pool_for(db.conninfo()));
  const auto request = stored_request(pool);
  CHECK(bkr::test::scalar(db.conninfo(),
                          "SELECT to_char(accepted_timestamp AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US')"
                          " FROM backup_request") == "2025-11-22 10:15:30.123000");
  CHECK(bkr::test::scalar(db.conninfo(),
                          "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                          " WHERE attrelid = 'backup_request'::regclass AND attname = 'data_date'") ==
        "date");
  CHECK(
      bkr::test::scalar(db.conninfo(),
                        "SELECT format_type(atttypid, atttypmod) FROM pg_attribute"
                        " WHERE attrelid = 'backup_request'::regclass AND attname = 'received_timestamp'") ==
      "timestamp(3) with time zone");
}

TEST_CASE("recovery scans are served by partial indexes of the statuses they scan") {
  bkr::test::pg_test_database db;
  const auto indexes = bkr::test::scalar(db.conninfo(),
                                         "SELECT string_agg(indexdef, E'\\n' ORDER BY indexname) FROM "
                                         "pg_indexes WHERE tablename = 'backup_request'");
  CHECK_THAT(indexes, Catch::Contains("(received_timestamp) WHERE (status_type_code = 'Received'::text)"));
  CHECK_THAT(indexes, Catch::Contains("(checked_timestamp) WHERE (status_type_code = 'Allowed'::text)"));
  // No index takes an entry for every status change: the pipeline's updates touch the primary key only.
  CHECK_THAT(indexes, !Catch::Contains("(status_type_code,"));
  // The sweep's statements use them.
  bkr::storage::connection_pool pool(bkr::test::pool_for(db.conninfo()));
  bkr::storage::unit_of_work uow(pool);
  uow.tx().exec0("SET LOCAL enable_seqscan = off");
  for (const auto& [status, index] : {std::pair{"Received", "backup_request_received_idx"},
                                      std::pair{"Allowed", "backup_request_allowed_idx"}}) {
    const auto column = std::string(status) == "Received" ? "received_timestamp" : "checked_timestamp";
    const auto plan =
        uow.tx().exec("EXPLAIN SELECT backup_request_id FROM backup_request WHERE status_type_code = '" +
                      std::string(status) + "' AND " + column + " < now() ORDER BY " + column + " LIMIT 10");
    std::string text;
    for (const auto& row : plan)
      text += row[0].as<std::string>() + "\n";
    CHECK_THAT(text, Catch::Contains(index));
  }
}
