// The real bkr-receive-request binary: start with migrations, serve, concurrent load, graceful shutdown.
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "pg_test_database.hpp"
#include "process.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"

#include "bkr/domain/messages.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <csignal>
#include <map>
#include <mutex>
#include <set>
#include <thread>

using namespace bkr::rr_test;
using namespace std::chrono_literals;

namespace {

constexpr const char* post_route = "/api/backup-requests";

std::string metrics_of(std::uint16_t ops_port) {
  return http_call(ops_port, "GET", "/metrics").body;
}

}  // namespace

TEST_CASE("the binary migrates, accepts, reads back, exposes metrics and exits 0 on SIGTERM",
          "[receive_request][e2e]") {
  bkr::test::pg_test_database db(bkr::test::empty_database);
  auto env = service_environment(db.conninfo());
  env["BKR_MIGRATE_ON_START"] = std::string("true");

  // --print-config shows the effective configuration with secrets masked.
  std::map<std::string, std::optional<std::string>> print_env;
  for (const auto& [k, v] : env)
    print_env[k] = v;
  print_env["BKR_DATABASE_URL"] = db.conninfo() + " password=hunter2";
  const auto printed = bkr::test::run_process(
      {bkr::test::built_executable("services/receive-request/bkr-receive-request"), "--print-config"},
      print_env);
  REQUIRE(printed.exit_code == 0);
  CHECK(nlohmann::json::parse(printed.out).at("database.url") == "***");
  CHECK(printed.out.find("hunter2") == std::string::npos);
  const auto bad =
      bkr::test::run_process({bkr::test::built_executable("services/receive-request/bkr-receive-request")},
                             {{"BKR_DATABASE_URL", db.conninfo()}, {"BKR_HTTP_PORT", "not-a-port"}});
  CHECK(bad.exit_code == 2);
  CHECK_THAT(bad.err, Catch::Contains("BKR_HTTP_PORT"));

  service_process svc(env);
  seed_clients(db.conninfo());  // the tables exist now: the service migrated the empty database

  const auto r = http_call(svc.port(), "POST", post_route, json_headers(token_for(client_a)), accept_body());
  REQUIRE(r.status == 202);
  require_conforms("POST", post_route, r);
  const std::string id = r.json().at("backupRequestId");
  const auto got = http_call(svc.port(), "GET", "/api/backup-requests/" + id,
                             {{"Authorization", "Bearer " + token_for(client_a)}});
  CHECK(got.status == 200);
  require_conforms("GET", "/api/backup-requests/{id}", got);

  CHECK(http_call(svc.ops_port(), "GET", "/readyz").status == 200);
  const auto metrics = metrics_of(svc.ops_port());
  CHECK(metric_value(metrics,
                     R"(bkr_http_requests_total{route="/api/backup-requests",method="POST",status="202"})") ==
        1);
  CHECK(metric_value(metrics, "bkr_receive_request_group_commit_batch_size_count") >= 1);
  CHECK(metric_value(metrics, "bkr_receive_request_database_up") == 1);

  svc.signal(SIGTERM);
  const auto code = svc.wait_exit(20s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(svc.wait_for_log("stopped", 1s).has_value());
}

TEST_CASE("under concurrent load every 202 has exactly one accepted message, and nothing else is queued",
          "[receive_request][e2e][load]") {
  bkr::test::pg_test_database db;
  seed_clients(db.conninfo());
  auto env = service_environment(db.conninfo());
  env["BKR_GROUP_COMMIT_TIMEOUT"] =
      std::string("15s");  // a loaded shared machine must not turn this into a 503 test
  service_process svc(env);

  constexpr int connections = 32;
  constexpr int per_connection = 2000 / connections + 1;  // 2,016 requests
  const std::string token = token_for(client_a);
  std::mutex mutex;
  std::map<unsigned, int> statuses;
  std::vector<nlohmann::json> accepted;
  std::vector<std::thread> threads;
  for (int c = 0; c < connections; ++c) {
    threads.emplace_back([&, c] {
      http_connection conn(svc.port());
      for (int i = 0; i < per_connection; ++i) {
        const auto r = conn.request(
            "POST", post_route, json_headers(token),
            accept_body("job-" + std::to_string(c), "/load/" + std::to_string(c) + "/" + std::to_string(i)));
        std::lock_guard lock(mutex);
        ++statuses[r.status];
        if (r.status == 202)
          accepted.push_back(r.json());
      }
    });
  }
  for (auto& t : threads)
    t.join();
  INFO("statuses: " << nlohmann::json(statuses).dump());
  CHECK(statuses[202] == connections * per_connection);

  const auto messages = queued_messages(db.conninfo());
  std::map<std::string, nlohmann::json> by_id;
  for (const auto& m : messages) {
    CHECK(m.queue == std::string(bkr::domain::accepted_message.queue));
    CHECK(by_id.emplace(m.message_id, m.payload).second);
  }
  CHECK(messages.size() == accepted.size());
  for (const auto& body : accepted) {
    const auto it = by_id.find(body.at("backupRequestId").get<std::string>());
    REQUIRE(it != by_id.end());
    CHECK(it->second == body);
  }
  // Group commit happened: far fewer transactions than requests.
  const auto metrics = metrics_of(svc.ops_port());
  const double batches = metric_value(metrics, "bkr_receive_request_group_commit_batch_size_count");
  const double rows = metric_value(metrics, "bkr_receive_request_group_commit_batch_size_sum");
  CHECK(rows == static_cast<double>(accepted.size()));
  CHECK(batches < rows / 2);
  svc.signal(SIGINT);
  CHECK(svc.wait_exit(20s) == std::optional<int>(0));
}

TEST_CASE(
    "SIGTERM with a request in flight: not ready, no new connections, the request still gets its 202, exit 0",
    "[receive_request][e2e][shutdown]") {
  bkr::test::pg_test_database db;
  seed_clients(db.conninfo());
  service_process svc(service_environment(db.conninfo()));

  // Hold the Idempotency-Key row the request needs, so that its group commit waits inside Postgres.
  pqxx::connection blocker(db.conninfo());
  pqxx::work held(blocker);
  held.exec(
      "INSERT INTO idempotency_key (client_id, idempotency_key, backup_request_id, response_status_code, "
      "response_body) VALUES ('client-a', 'in-flight', 'held', 202, '{}')");

  std::optional<reply> answer;
  std::thread client([&] {
    answer = http_call(svc.port(), "POST", post_route,
                       json_headers(token_for(client_a), {{"Idempotency-Key", "in-flight"}}), accept_body());
  });
  pqxx::connection observer(db.conninfo());
  REQUIRE(eventually([&] {
    pqxx::nontransaction q(observer);
    return q.exec(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = "
                "current_database()")[0][0]
               .as<int>() > 0;
  }));

  svc.signal(SIGTERM);
  REQUIRE(eventually([&] { return http_call(svc.ops_port(), "GET", "/readyz").status == 503; }));
  const auto not_ready = http_call(svc.ops_port(), "GET", "/readyz");
  CHECK(not_ready.json().at("draining") == true);
  REQUIRE(eventually([&] { return !port_open(svc.port()); }));
  CHECK_FALSE(svc.wait_exit(300ms).has_value());  // still finishing the request

  held.abort();  // the in-flight group commit can go on now
  client.join();
  REQUIRE(answer.has_value());
  CHECK(answer->status == 202);
  const auto code = svc.wait_exit(20s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  const auto messages = queued_messages(db.conninfo());
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].message_id == answer->json().at("backupRequestId"));
}
