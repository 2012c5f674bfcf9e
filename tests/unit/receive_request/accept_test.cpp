// Header rules, the messages the service publishes and its response bodies, as plain functions.
#include "bkr/receive_request/accept.hpp"

#include "bkr/domain/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/request_id.hpp"

#include <catch2/catch.hpp>

namespace rr = bkr::receive_request;

namespace {

bkr::domain::backup_request sample_request() {
  const auto input = bkr::domain::parse_accept_body(
      R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-02-28","backupDataLocation":"/d/1"})");
  REQUIRE(input.has_value());
  const auto at = *bkr::parse_timestamp("2026-03-01T08:00:00.123Z");
  auto r = bkr::domain::make_accepted_request(*input, "0190f5a4-7c1e-7a00-8000-000000000001", "client-1", at);
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("Idempotency-Key: absent is fine, present must be 1..128 printable ASCII",
          "[receive_request][accept]") {
  CHECK(rr::idempotency_key({}).value() == std::nullopt);
  CHECK(rr::idempotency_key({{"idempotency-key", "abc-123_~!"}}).value() ==
        std::optional<std::string>("abc-123_~!"));
  CHECK(rr::idempotency_key({{"Idempotency-Key", std::string(128, 'x')}}).has_value());
  for (const std::string& bad : {std::string(), std::string(129, 'x'), std::string("a b"),
                                 std::string("caf\xc3\xa9"), std::string("line\nbreak")}) {
    INFO("'" << bad << "'");
    const auto r = rr::idempotency_key({{"Idempotency-Key", bad}});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bkr::domain::errc::bad_data);
    CHECK_THAT(r.error().message, Catch::Contains("Idempotency-Key"));
  }
}

TEST_CASE("the accepted message is the 202 body under the request's id", "[receive_request][accept]") {
  const auto request = sample_request();
  const auto body = bkr::domain::accepted_response_body(request);
  const auto m = rr::accepted_message(request, body, "trace-9");
  CHECK(m.queue == "backup-request.accepted");
  CHECK(m.message.message_id == request.backup_request_id);
  CHECK(m.message.key == request.backup_request_id);
  CHECK(m.message.type == "BackupRequestAccepted");
  CHECK(m.message.schema_version == 1);
  CHECK(m.message.trace_id == "trace-9");
  CHECK(m.message.producer == "receive-request");
  CHECK(m.message.occurred_at == *request.accepted_timestamp);
  CHECK(m.message.payload == body);
  const auto payload = bkr::domain::parse_accepted_payload(m.message.payload);
  REQUIRE(payload.has_value());
  CHECK(bkr::domain::to_backup_request(*payload) == request);
}

TEST_CASE("the trace id on messages is the traceparent's, else the request id", "[receive_request][accept]") {
  const auto request = sample_request();
  const auto body = bkr::domain::accepted_response_body(request);
  bkr::http::request req;
  const auto both =
      bkr::http::identify_request("my-id", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
  req.request_id = both.request_id;
  req.trace = both.trace;
  CHECK(req.request_id == "my-id");
  CHECK(rr::accepted_message(request, body, std::string(req.trace_id())).message.trace_id ==
        "0af7651916cd43dd8448eb211c80319c");
  const auto only_id = bkr::http::identify_request("my-id", "garbage");
  req.request_id = only_id.request_id;
  req.trace = only_id.trace;
  CHECK(rr::accepted_message(request, body, std::string(req.trace_id())).message.trace_id == "my-id");
}

TEST_CASE("store status replies go to backup-interface.store-status keyed by their request",
          "[receive_request][accept]") {
  const auto reply = bkr::domain::parse_store_status_reply_text(
      R"({"apiVersion":"2022-08-15","backupRequestId":"req-1","resultTypeCode":"Failed","messageText":"disk full"})");
  REQUIRE(reply.has_value());
  const auto now = *bkr::parse_timestamp("2026-03-01T08:00:00.000Z");
  const auto m = rr::store_status_message(*reply, "0190f5a4-7c1e-7a00-8000-000000000002", "t", now);
  CHECK(m.queue == "backup-interface.store-status");
  CHECK(m.message.type == "StoreStatusReply");
  CHECK(m.message.key == "req-1");
  CHECK(m.message.occurred_at == now);
  CHECK(bkr::domain::parse_store_status_reply(m.message.payload).value() == *reply);
  const auto body = rr::store_status_accepted_body(m);
  CHECK(body == nlohmann::json{{"backupRequestId", "req-1"},
                               {"messageId", "0190f5a4-7c1e-7a00-8000-000000000002"},
                               {"queue", "backup-interface.store-status"}});
}

TEST_CASE("202 responses carry Location, and the GET view adds the history", "[receive_request][accept]") {
  const auto r = rr::accepted_response("abc", "{}");
  CHECK(r.status == 202);
  CHECK(r.headers.get("Location") == std::optional<std::string_view>("/api/backup-requests/abc"));
  CHECK(r.content_type == "application/json");

  const auto request = sample_request();
  const bkr::domain::history_entry h{request.backup_request_id,
                                     std::nullopt,
                                     bkr::domain::request_status::accepted,
                                     *request.accepted_timestamp,
                                     "create-request",
                                     "m-1",
                                     std::nullopt};
  const auto view = rr::request_view(request, {h});
  CHECK(view.at("backupRequestId") == request.backup_request_id);
  CHECK(view.at("receivedTimestamp").is_null());
  REQUIRE(view.at("history").size() == 1);
  CHECK(view.at("history")[0].at("stage") == "create-request");
  CHECK(rr::request_view(request, {}).at("history") == nlohmann::json::array());
}
