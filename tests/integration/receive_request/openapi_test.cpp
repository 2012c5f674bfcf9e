// proto/openapi.yaml against the service: every route documented, ops answers conform, the checker can fail.
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "pg_test_database.hpp"
#include "service_fixture.hpp"

#include <catch2/catch.hpp>

#include <set>

using namespace bkr::rr_test;

TEST_CASE("every route of the service is in the contract with its statuses", "[receive_request][openapi]") {
  const auto& doc = openapi_contract::instance().document();
  REQUIRE(doc.at("openapi").get<std::string>().starts_with("3."));
  const std::set<std::string> expected_statuses_post{"202", "400", "401", "403", "411",
                                                     "413", "415", "500", "503"};
  for (const auto& [method, path] :
       std::vector<std::pair<std::string, std::string>>{{"post", "/api/backup-requests"},
                                                        {"get", "/api/backup-requests/{id}"},
                                                        {"post", "/api/store-status-replies"}}) {
    INFO(method << " " << path);
    REQUIRE(doc.at("paths").contains(path));
    const auto& responses = doc.at("paths").at(path).at(method).at("responses");
    for (const char* status : {"400", "401", "403", "500", "503"})
      CHECK(responses.contains(status));
    if (method == "post") {
      for (const auto& s : expected_statuses_post)
        CHECK(responses.contains(s));
    }
  }
  for (const char* ops : {"/livez", "/readyz", "/healthz", "/metrics"})
    CHECK(doc.at("paths").contains(ops));
}

TEST_CASE("the ops listener's answers conform to the contract", "[receive_request][openapi][ops]") {
  bkr::test::pg_test_database db;
  in_process_service svc(db.conninfo());
  for (const char* path : {"/livez", "/readyz", "/healthz", "/metrics"}) {
    INFO(path);
    const auto r = http_call(svc.ops_port(), "GET", path);
    CHECK(r.status == 200);
    require_conforms("GET", path, r);
  }
  const auto health = http_call(svc.ops_port(), "GET", "/healthz").json();
  CHECK(health.at("checks").at("postgres") == true);
  CHECK(health.at("database").at("reachable") == true);
  CHECK(health.at("breakers").at("postgres").at("state") == "closed");
}

TEST_CASE("the contract checker rejects undocumented statuses, missing headers and wrong bodies",
          "[receive_request][openapi]") {
  const auto& contract = openapi_contract::instance();
  reply teapot;
  teapot.status = 418;
  teapot.headers["content-type"] = std::string("application/json");
  teapot.body = "{}";
  CHECK_FALSE(contract.check("POST", "/api/backup-requests", teapot).empty());

  reply accepted;
  accepted.status = 202;
  accepted.headers["content-type"] = std::string("application/json");
  accepted.headers["x-request-id"] = std::string("r");
  accepted.body = R"({"backupRequestId":"x"})";
  CHECK_FALSE(
      contract.check("POST", "/api/backup-requests", accepted).empty());  // no Location, fields missing

  reply unavailable;
  unavailable.status = 503;
  unavailable.headers["content-type"] = std::string("application/json");
  unavailable.body = R"({"code":"Unavailable","message":"m","requestId":"r"})";
  CHECK_FALSE(contract.check("POST", "/api/backup-requests", unavailable).empty());  // no Retry-After
  unavailable.headers["retry-after"] = std::string("1");
  CHECK(contract.check("POST", "/api/backup-requests", unavailable).empty());
}
