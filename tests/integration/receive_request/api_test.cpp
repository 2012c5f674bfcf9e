// POST/GET backup requests and store status replies over real HTTP against real Postgres (service
// in-process).
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "pg_test_database.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"
#include "tokens.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include <set>

using namespace bkr::rr_test;

namespace {

const std::string accepted_queue{bkr::domain::accepted_message.queue};
const std::string status_queue{bkr::domain::store_status_message.queue};
constexpr const char* post_route = "/api/backup-requests";
constexpr const char* get_route = "/api/backup-requests/{id}";
constexpr const char* reply_route = "/api/store-status-replies";

struct api_fixture {
  bkr::test::pg_test_database db;
  in_process_service svc;

  api_fixture() : svc((seed_clients(db.conninfo()), db.conninfo())) {}

  reply post(const std::string& subject, const std::string& body, header_list extra = {}) {
    auto r =
        http_call(svc.port(), "POST", post_route, json_headers(token_for(subject), std::move(extra)), body);
    require_conforms("POST", post_route, r);
    return r;
  }
  reply get(const std::string& subject, const std::string& id) {
    auto r = http_call(svc.port(), "GET", "/api/backup-requests/" + id,
                       {{"Authorization", "Bearer " + token_for(subject)}});
    require_conforms("GET", get_route, r);
    return r;
  }
};

}  // namespace

TEST_CASE("a 202 carries the accepted request and its Location, and the message is already committed",
          "[receive_request][accept]") {
  api_fixture f;
  const auto r =
      f.post(client_a, accept_body("job-7", "/data/p 1", "2026-03-31"), {{"X-Request-Id", "req-123"}});
  REQUIRE(r.status == 202);
  const auto body = r.json();
  const std::string id = body.at("backupRequestId");
  CHECK(bkr::is_uuid(id));
  CHECK(body.at("backupJobId") == "job-7");
  CHECK(body.at("dataDate") == "2026-03-31");
  CHECK(body.at("preparedDataPathName") == "/data/p 1");
  CHECK(body.at("getOnStartFlag") == true);
  CHECK(body.at("transportTypeCode") == "HTTP");
  CHECK(body.at("statusTypeCode") == "Accepted");
  CHECK(body.at("requesterId") == client_a);
  CHECK(bkr::parse_timestamp(body.at("acceptedTimestamp").get<std::string>()).has_value());
  CHECK(r.header("location") == "/api/backup-requests/" + id);
  CHECK(r.header("x-request-id") == "req-123");

  // The answer came after the commit: the message is there now, with the very same object as payload.
  const auto messages = queued_messages(f.db.conninfo());
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].queue == accepted_queue);
  CHECK(messages[0].message_id == id);
  CHECK(messages[0].key == id);
  CHECK(messages[0].type == "BackupRequestAccepted");
  CHECK(messages[0].producer == "receive-request");
  CHECK(messages[0].trace_id == "req-123");
  CHECK(messages[0].payload == body);
  CHECK(bkr::domain::parse_accepted_payload(messages[0].payload).has_value());
}

TEST_CASE("a traceparent is echoed and its trace id travels on the message", "[receive_request][accept]") {
  api_fixture f;
  const std::string traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
  const auto r = f.post(client_a, accept_body(), {{"traceparent", traceparent}});
  REQUIRE(r.status == 202);
  CHECK(r.header("traceparent") == traceparent);
  CHECK(r.header("x-request-id") == "4bf92f3577b34da6a3ce929d0e0e4736");
  const auto messages = queued_messages(f.db.conninfo());
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");

  // Without either header a request id is made up, echoed and carried.
  const auto plain = f.post(client_a, accept_body("job-2"));
  REQUIRE(plain.status == 202);
  const auto generated = plain.header("x-request-id");
  CHECK(bkr::is_uuid(generated));
  const auto all = queued_messages(f.db.conninfo());
  REQUIRE(all.size() == 2);
  CHECK(all[1].trace_id == generated);
}

TEST_CASE("invalid bodies are answered 400 with the code and the field, and nothing is enqueued",
          "[receive_request][accept]") {
  api_fixture f;
  struct bad_case {
    std::string body;
    std::string code;
    std::string field;  // the message must name it
  };
  const std::vector<bad_case> cases{
      {"not json", "InvalidJson", ""},
      {"[1,2]", "InvalidJson", ""},
      {R"({"backupJobId":"j","dataDate":"2026-01-01","backupDataLocation":"/d"})", "InvalidApiVersion",
       "apiVersion"},
      {R"({"apiVersion":"2023-01-01","backupJobId":"j","dataDate":"2026-01-01","backupDataLocation":"/d"})",
       "InvalidApiVersion", "apiVersion"},
      {R"({"apiVersion":"2022-05-22","dataDate":"2026-01-01","backupDataLocation":"/d"})", "BadData",
       "backupJobId"},
      {R"({"apiVersion":"2022-05-22","backupJobId":"has space","dataDate":"2026-01-01","backupDataLocation":"/d"})",
       "BadData", "backupJobId"},
      {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-02-30","backupDataLocation":"/d"})",
       "BadData", "dataDate"},
      {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-1-01","backupDataLocation":"/d"})",
       "BadData", "dataDate"},
      {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-01-01","backupDataLocation":""})",
       "BadData", "backupDataLocation"},
      {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-01-01","backupDataLocation":7})",
       "BadData", "backupDataLocation"},
  };
  for (const auto& c : cases) {
    INFO(c.body);
    const auto r = f.post(client_a, c.body, {{"X-Request-Id", "bad-1"}});
    CHECK(r.status == 400);
    const auto j = r.json();
    CHECK(j.at("code") == c.code);
    CHECK(j.at("requestId") == "bad-1");
    if (!c.field.empty())
      CHECK_THAT(j.at("message").get<std::string>(), Catch::Contains(c.field));
  }
  CHECK(message_count(f.db.conninfo()) == 0);

  // Unknown fields are ignored.
  auto extra = nlohmann::json::parse(accept_body());
  extra["somethingElse"] = {1, 2};
  CHECK(f.post(client_a, extra.dump()).status == 202);
}

TEST_CASE("a bad Idempotency-Key is answered 400 BadData naming the header",
          "[receive_request][idempotency]") {
  api_fixture f;
  for (const std::string& key :
       {std::string(), std::string(129, 'k'), std::string("has space"), std::string("tab\tkey")}) {
    INFO("key '" << key << "'");
    const auto r = f.post(client_a, accept_body(), {{"Idempotency-Key", key}});
    CHECK(r.status == 400);
    CHECK(r.json().at("code") == "BadData");
    CHECK_THAT(r.json().at("message").get<std::string>(), Catch::Contains("Idempotency-Key"));
  }
  CHECK(f.post(client_a, accept_body(), {{"Idempotency-Key", std::string(128, 'k')}}).status == 202);
  CHECK(message_count(f.db.conninfo()) == 1);
}

TEST_CASE("a repeated Idempotency-Key gets the first answer and creates nothing",
          "[receive_request][idempotency]") {
  api_fixture f;
  const auto first = f.post(client_a, accept_body("job-1", "/first"), {{"Idempotency-Key", "key-1"}});
  REQUIRE(first.status == 202);
  // A repeat with the same payload is the same request (another payload: request_rules_test.cpp, 422).
  const auto again = f.post(client_a, accept_body("job-1", "/first"), {{"Idempotency-Key", "key-1"}});
  REQUIRE(again.status == 202);
  CHECK(again.body == first.body);
  CHECK(again.header("location") == first.header("location"));
  CHECK(message_count(f.db.conninfo()) == 1);

  // Keys belong to a client: the same key from another client is another request.
  const auto other = f.post(client_b, accept_body("job-1", "/first"), {{"Idempotency-Key", "key-1"}});
  REQUIRE(other.status == 202);
  CHECK(other.json().at("backupRequestId") != first.json().at("backupRequestId"));
  CHECK(message_count(f.db.conninfo()) == 2);
}

TEST_CASE("racing repeats of one Idempotency-Key create one request and all get its answer",
          "[receive_request][idempotency]") {
  api_fixture f;
  constexpr int racers = 16;
  const auto replies = post_concurrently(
      f.svc.port(), post_route, json_headers(token_for(client_a), {{"Idempotency-Key", "race-key"}}),
      [](int) { return accept_body("job-1", "/race"); }, racers);
  std::set<std::string> bodies;
  for (const auto& r : replies) {
    REQUIRE(r.status == 202);
    bodies.insert(r.body);
  }
  CHECK(bodies.size() == 1);
  const auto messages = queued_messages(f.db.conninfo());
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].payload == nlohmann::json::parse(*bodies.begin()));
}

TEST_CASE("HTTP-level refusals are JSON and documented", "[receive_request][http]") {
  api_fixture f;
  const std::string token = token_for(client_a);
  const auto& contract = openapi_contract::instance();

  const auto unknown =
      http_call(f.svc.port(), "GET", "/api/nothing-here", {{"Authorization", "Bearer " + token}});
  CHECK(unknown.status == 404);
  CHECK(unknown.json().at("code") == "NotFound");
  CHECK(contract.check_component("NotFound", unknown).empty());

  const auto wrong_method =
      http_call(f.svc.port(), "DELETE", post_route, {{"Authorization", "Bearer " + token}});
  CHECK(wrong_method.status == 405);
  CHECK(wrong_method.header("allow") == "POST");
  CHECK(contract.check_component("MethodNotAllowed", wrong_method).empty());

  http_connection no_length(f.svc.port());
  const auto r411 = no_length.raw("POST /api/backup-requests HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                                  token + "\r\nContent-Type: application/json\r\n\r\n");
  CHECK(r411.status == 411);
  require_conforms("POST", post_route, r411);

  const auto r413 =
      http_call(f.svc.port(), "POST", post_route, json_headers(token), std::string(17 * 1024, ' '));
  CHECK(r413.status == 413);
  require_conforms("POST", post_route, r413);

  const auto r415 =
      http_call(f.svc.port(), "POST", post_route,
                {{"Authorization", "Bearer " + token}, {"Content-Type", "text/plain"}}, accept_body());
  CHECK(r415.status == 415);
  require_conforms("POST", post_route, r415);
  CHECK(message_count(f.db.conninfo()) == 0);
}

TEST_CASE("GET shows a request to its owner and to admins, and to nobody else", "[receive_request][get]") {
  api_fixture f;
  const auto posted = f.post(client_a, accept_body("job-5", "/data/5"));
  REQUIRE(posted.status == 202);
  const std::string id = posted.json().at("backupRequestId");

  // Only the accepted message exists yet: reported as Accepted, with an empty history.
  const auto own = f.get(client_a, id);
  REQUIRE(own.status == 200);
  auto view = own.json();
  CHECK(view.at("statusTypeCode") == "Accepted");
  CHECK(view.at("history").empty());
  CHECK(view.at("receivedTimestamp").is_null());
  CHECK(view.at("backupJobId") == "job-5");

  // Another client cannot tell it from a request that does not exist.
  const auto other = f.get(client_b, id);
  const auto missing = f.get(client_b, bkr::new_uuid_v7());
  CHECK(other.status == 404);
  CHECK(missing.status == 404);
  CHECK(other.json().at("code") == missing.json().at("code"));
  CHECK(other.json().at("message") == missing.json().at("message"));
  CHECK(f.get(client_a, "not-a-uuid").status == 404);

  CHECK(f.get(admin_client, id).status == 200);

  // CreateRequest stores it and consumes the message: now the row answers.
  {
    bkr::storage::connection_pool pool({.conninfo = f.db.conninfo(), .size = 1});
    bkr::storage::unit_of_work uow(pool);
    auto request = bkr::domain::to_backup_request(*bkr::domain::parse_accepted_payload(posted.json()));
    request.status_type_code = bkr::domain::request_status::received;
    request.received_timestamp = request.accepted_timestamp;
    const bkr::domain::history_entry first{id,
                                           bkr::domain::request_status::accepted,
                                           bkr::domain::request_status::received,
                                           *request.accepted_timestamp,
                                           "create-request",
                                           id,
                                           std::nullopt};
    REQUIRE(bkr::storage::backup_request_repository().insert(uow, request, first));
    uow.commit();
  }
  {
    bkr::storage::connection_pool pool({.conninfo = f.db.conninfo(), .size = 1});
    REQUIRE(bkr::messaging::postgres::log_admin(pool).purge_queue(
                std::string(bkr::domain::accepted_message.queue)) == 1);
  }
  const auto stored = f.get(client_a, id);
  REQUIRE(stored.status == 200);
  view = stored.json();
  CHECK(view.at("statusTypeCode") == "Received");
  REQUIRE(view.at("history").size() == 1);
  CHECK(view.at("history")[0].at("toStatus") == "Received");
  CHECK(f.get(client_b, id).status == 404);
  CHECK(f.get(admin_client, id).status == 200);
}

TEST_CASE("store status replies are validated and enqueued on backup-interface.store-status",
          "[receive_request][store_status]") {
  api_fixture f;
  const std::string token = token_for(interface_client);
  const std::string request_id = bkr::new_uuid_v7();
  const nlohmann::json ok{{"apiVersion", "2022-08-15"},
                          {"backupRequestId", request_id},
                          {"resultTypeCode", "Succeeded"},
                          {"storagePathName", "/store/1"},
                          {"backupByteCount", 1234},
                          {"copyStartTimestamp", "2026-01-01T10:00:00.000Z"},
                          {"copyEndTimestamp", "2026-01-01T10:05:00.000Z"}};
  const auto r = http_call(f.svc.port(), "POST", reply_route,
                           json_headers(token, {{"X-Request-Id", "reply-1"}}), ok.dump());
  REQUIRE(r.status == 202);
  require_conforms("POST", reply_route, r);
  const auto messages = queued_messages(f.db.conninfo(), status_queue);
  REQUIRE(messages.size() == 1);
  CHECK(messages[0].key == request_id);
  CHECK(messages[0].message_id == r.json().at("messageId"));
  CHECK(messages[0].type == "StoreStatusReply");
  CHECK(messages[0].trace_id == "reply-1");
  CHECK(bkr::domain::parse_store_status_reply(messages[0].payload).has_value());

  auto missing_path = ok;
  missing_path.erase("storagePathName");
  const auto bad = http_call(f.svc.port(), "POST", reply_route, json_headers(token), missing_path.dump());
  CHECK(bad.status == 400);
  CHECK(bad.json().at("code") == "BadData");
  CHECK_THAT(bad.json().at("message").get<std::string>(), Catch::Contains("storagePathName"));
  require_conforms("POST", reply_route, bad);

  const auto forbidden =
      http_call(f.svc.port(), "POST", reply_route, json_headers(token_for(client_a)), ok.dump());
  CHECK(forbidden.status == 403);
  require_conforms("POST", reply_route, forbidden);
  CHECK(queued_messages(f.db.conninfo(), status_queue).size() == 1);
}

TEST_CASE("an unexpected database error is a 500 without internals and spares the rest of the batch",
          "[receive_request][errors]") {
  api_fixture f;
  execute(f.db.conninfo(), "DROP TABLE idempotency_key");
  const auto r = f.post(client_a, accept_body(), {{"Idempotency-Key", "k"}});
  CHECK(r.status == 500);
  CHECK(r.json().at("code") == "Internal");
  CHECK_THAT(r.body,
             !Catch::Contains("idempotency") && !Catch::Contains("relation") && !Catch::Contains("SQL"));
  // Requests without a key do not touch that table and still go through.
  CHECK(f.post(client_a, accept_body()).status == 202);
  CHECK(message_count(f.db.conninfo()) == 1);
}
