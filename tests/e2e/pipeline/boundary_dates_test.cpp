// Every boundary dataDate through the real executables: the first and last representable dates and leap days
// are answered 202 and end Succeeded with a Backup whose dueToDeleteDate saturates at 9999-12-31, with
// daysToKeep from 0 to the largest a job may hold; dates no calendar has are answered 400 and leave nothing.
// Every worker's /healthz shows its breakers meanwhile.
#include "pg_test_database.hpp"
#include "stack.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <chrono>
#include <filesystem>
#include <limits>
#include <map>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using namespace bkr::test;

namespace {

/// Jobs beside the seeded ones (demo-cloud-b keeps 3650 days): none kept, and kept as long as a job may ask.
void add_edge_jobs(const std::string& conninfo) {
  pqxx::connection c(conninfo);
  pqxx::work tx(c);
  for (const auto& [id, days] : std::vector<std::pair<std::string, int>>{
           {"edge-keep-0", 0}, {"edge-keep-max", std::numeric_limits<int>::max()}}) {
    tx.exec_params(
        "INSERT INTO backup_job (backup_job_id, storage_path_name, backup_provider_code, days_to_keep, "
        "is_active, hold_flag) VALUES ($1, $2, 'CloudA', $3, true, false)",
        id, "cloud-a/" + id, days);
  }
  tx.commit();
}

/// dataDate + days, saturated at 9999-12-31, as YYYY-MM-DD (computed here by Postgres, not by our code).
std::string expected_due(pqxx::work& tx, const std::string& data_date, long days) {
  return tx
      .exec_params1(
          "SELECT to_char(CASE WHEN $2::bigint > '9999-12-31'::date - $1::date THEN '9999-12-31'::date "
          "ELSE $1::date + $2::integer END, 'YYYY-MM-DD')",
          data_date, days)[0]
      .as<std::string>();
}

std::string post_body(const std::string& job, const std::string& date) {
  return nlohmann::json{{"apiVersion", "2022-05-22"},
                        {"backupJobId", job},
                        {"dataDate", date},
                        {"backupDataLocation", "/data/x"}}
      .dump();
}

}  // namespace

TEST_CASE("boundary dataDates: each 202 ends Succeeded with a Backup, each impossible date is a 400",
          "[pipeline][e2e][dates]") {
  bkr::test::pg_test_database db;
  seed(db.conninfo());
  add_edge_jobs(db.conninfo());
  const auto dir = scratch_dir("boundary-dates");
  const auto api_port = free_port();
  bkr::test::stack processes(pipeline_apps(db.conninfo(), api_port), dir);
  processes.start_all();
  processes.require_ready(30s);
  const auto token = mint_token(db.conninfo());

  const std::vector<std::string> valid{"0001-01-01", "0001-12-31", "0004-02-29", "2000-02-29", "2024-02-29",
                                       "2026-12-31", "9996-02-29", "9999-01-01", "9999-12-30", "9999-12-31"};
  const std::vector<std::string> invalid{"2023-02-29", "1900-02-29",  "2100-02-29", "0000-01-01",
                                         "0000-02-29", "10000-01-01", "9999-12-32", "9999-13-01"};
  const std::map<std::string, long> jobs{
      {"demo-cloud-b", 3650}, {"edge-keep-0", 0}, {"edge-keep-max", std::numeric_limits<int>::max()}};

  bkr::rr_test::http_connection conn(api_port);
  std::map<std::string, std::pair<std::string, std::string>> accepted;  // id -> (job, date)
  for (const auto& [job, days] : jobs) {
    for (const auto& date : valid) {
      INFO(job << " " << date);
      const auto r = conn.request("POST", "/api/backup-requests", bkr::rr_test::json_headers(token),
                                  post_body(job, date));
      REQUIRE(r.status == 202);
      accepted[r.json().at("backupRequestId").get<std::string>()] = {job, date};
    }
    for (const auto& date : invalid) {
      INFO(job << " " << date);
      const auto r = conn.request("POST", "/api/backup-requests", bkr::rr_test::json_headers(token),
                                  post_body(job, date));
      CHECK(r.status == 400);
      CHECK(r.json().at("code") == "BadData");
      CHECK(r.json().at("message") == "dataDate must be a real calendar date in the form YYYY-MM-DD");
    }
  }

  const auto total = static_cast<long>(accepted.size());
  const bool all_final = eventually([&] { return finished(db.conninfo()) == total; }, 60s);
  const auto counts = final_counts(db.conninfo());
  for (const auto& [status, n] : counts)
    UNSCOPED_INFO(status << ": " << n);
  for (const auto& d : dead_letters(db.conninfo()))
    UNSCOPED_INFO("dead letter on " << d.queue << ": " << d.reason);
  REQUIRE(all_final);
  CHECK(counts.at("Succeeded") == total);
  CHECK(dead_letters(db.conninfo()).empty());

  std::map<std::string, std::string> ids;
  for (const auto& [id, job_date] : accepted)
    ids[id] = "";
  const auto report = check_invariants(db.conninfo(), ids);
  INFO(report.summary() << "\n" << report.example);
  CHECK(report.clean());

  pqxx::connection c(db.conninfo());
  pqxx::work tx(c);
  for (const auto& [id, job_date] : accepted) {
    const auto& [job, date] = job_date;
    INFO(job << " " << date);
    const auto row = tx.exec_params(
        "SELECT to_char(data_date, 'YYYY-MM-DD'), to_char(due_to_delete_date, 'YYYY-MM-DD'), "
        "days_to_keep_count FROM backup WHERE backup_request_id = $1",
        id);
    REQUIRE(row.size() == 1);
    CHECK(row[0][0].as<std::string>() == date);
    CHECK(row[0][1].as<std::string>() == expected_due(tx, date, jobs.at(job)));
    CHECK(row[0][2].as<long>() == jobs.at(job));
  }

  // Every worker shows its breakers on /healthz (postgres at least), closed while the database answers.
  for (const auto* name :
       {"bkr-create-request", "bkr-check-allowed", "bkr-send-to-interface", "bkr-receive-status"}) {
    INFO(name);
    const auto health =
        bkr::rr_test::http_call(processes.at(processes.index(name)).ops_port, "GET", "/healthz").json();
    REQUIRE(health.contains("breakers"));
    CHECK(health.at("breakers").at("postgres").at("state") == "closed");
  }

  const auto codes = processes.stop_all(15s);
  for (std::size_t i = 0; i < processes.size(); ++i) {
    INFO(processes.at(i).name);
    REQUIRE(codes[i].has_value());
    CHECK(*codes[i] == 0);
  }
  std::filesystem::remove_all(dir);
}
