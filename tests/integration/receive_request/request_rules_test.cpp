// Over real HTTP against real Postgres (service in-process): the Bearer challenge of every refusal, requests
// that carry a singleton field twice, an Idempotency-Key reused with another payload, and what the answer
// says about a body that is not JSON. None of them enqueues anything.
#include "http_call.hpp"
#include "openapi_contract.hpp"
#include "pg_test_database.hpp"
#include "queue_rows.hpp"
#include "service_fixture.hpp"
#include "tokens.hpp"

#include <catch2/catch.hpp>

#include <string>
#include <vector>

using namespace bkr::rr_test;

namespace {

constexpr const char* post_route = "/api/backup-requests";

struct rules_fixture : seeded_service {
  reply post(const header_list& headers, const std::string& body = accept_body()) {
    auto r = http_call(svc.port(), "POST", post_route, headers, body);
    require_conforms("POST", post_route, r);
    return r;
  }
  reply post_as(const std::string& subject, const std::string& body, header_list extra = {}) {
    return post(json_headers(token_for(subject), std::move(extra)), body);
  }
  std::int64_t messages() const { return message_count(db.conninfo()); }
};

std::string body_with(std::string_view date, std::string_view location = "/data/set-1") {
  return accept_body("job-1", location, date);
}

}  // namespace

TEST_CASE("every 401 carries a Bearer challenge, with invalid_token only when a token came",
          "[receive_request][auth][challenge]") {
  rules_fixture f;
  const auto none = f.post({{"Content-Type", "application/json"}});
  CHECK(none.status == 401);
  CHECK(none.header("www-authenticate") == R"(Bearer realm="bkr")");

  const auto garbage = f.post(json_headers("not-a-jwt"));
  CHECK(garbage.status == 401);
  CHECK_THAT(
      garbage.header("www-authenticate"),
      Catch::StartsWith(R"(Bearer realm="bkr", error="invalid_token", error_description="invalid bearer )"
                        R"(token: )"));
  auto expired_claims = claims_for(client_a);
  expired_claims["exp"] = expired_claims["iat"].get<long long>() - 3600;
  const auto expired = f.post(json_headers(signed_token(rsa_key(), expired_claims)));
  CHECK(expired.status == 401);
  CHECK(expired.header("www-authenticate") ==
        R"(Bearer realm="bkr", error="invalid_token", error_description="invalid bearer token: expired")");

  // The GET route answers the same way.
  const auto get = http_call(f.svc.port(), "GET", "/api/backup-requests/x");
  require_conforms("GET", "/api/backup-requests/{id}", get);
  CHECK(get.status == 401);
  CHECK(get.header("www-authenticate") == R"(Bearer realm="bkr")");

  // A valid token without the scope: 403 with insufficient_scope.
  const auto scope = f.post_as(reader_client, accept_body());
  CHECK(scope.status == 403);
  CHECK_THAT(scope.header("www-authenticate"),
             Catch::StartsWith(R"(Bearer realm="bkr", error="insufficient_scope")"));
  CHECK(f.messages() == 0);
}

TEST_CASE("two Authorization fields are refused, whichever tokens they hold",
          "[receive_request][auth][singleton]") {
  rules_fixture f;
  const auto a = "Bearer " + token_for(client_a);
  const auto b = "Bearer " + token_for(client_b);
  for (const auto& [first, second] : std::vector<std::pair<std::string, std::string>>{
           {a, b}, {a, a}, {a, "Bearer not-a-jwt"}, {"Bearer not-a-jwt", a}}) {
    const auto r =
        f.post({{"Authorization", first}, {"authorization", second}, {"Content-Type", "application/json"}});
    CHECK(r.status == 400);
    CHECK(r.json().at("code") == "BadRequest");
    CHECK(r.json().at("message") ==
          "the request carries 2 Authorization fields; send exactly one bearer token");
    CHECK_THAT(r.header("www-authenticate"),
               Catch::StartsWith(R"(Bearer realm="bkr", error="invalid_request")"));
  }
  CHECK(f.messages() == 0);
  // One of them alone is fine.
  CHECK(f.post_as(client_a, accept_body()).status == 202);
}

TEST_CASE(
    "Content-Type, Host and Idempotency-Key sent twice are refused, and so are differing Content-Lengths",
    "[receive_request][singleton]") {
  rules_fixture f;
  const auto token = token_for(client_a);
  const auto types = f.post({{"Authorization", "Bearer " + token},
                             {"Content-Type", "application/json"},
                             {"Content-Type", "text/plain"}});
  CHECK(types.status == 400);
  CHECK(types.json().at("code") == "BadRequest");
  CHECK(types.json().at("message") == "the Content-Type field must be sent once");
  const auto same_types = f.post({{"Authorization", "Bearer " + token},
                                  {"Content-Type", "application/json"},
                                  {"Content-Type", "application/json"}});
  CHECK(same_types.status == 400);

  const auto hosts = f.post(json_headers(token, {{"Host", "other.example"}}));
  CHECK(hosts.status == 400);
  CHECK(hosts.json().at("message") == "the Host field must be sent once");

  const auto keys =
      f.post_as(client_a, accept_body(), {{"Idempotency-Key", "k-1"}, {"Idempotency-Key", "k-2"}});
  CHECK(keys.status == 400);
  CHECK(keys.json().at("code") == "BadData");
  CHECK(keys.json().at("message") == "Idempotency-Key must be sent once");

  // Beast refuses Content-Length fields that disagree before any route runs.
  http_connection conn(f.svc.port());
  const auto body = accept_body();
  const auto lengths =
      conn.raw("POST /api/backup-requests HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " + token +
               "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
               "\r\nContent-Length: " + std::to_string(body.size() + 1) + "\r\n\r\n" + body);
  CHECK(lengths.status == 400);
  CHECK(f.messages() == 0);
}

TEST_CASE("an Idempotency-Key reused with another payload is a 422 that creates nothing",
          "[receive_request][idempotency]") {
  rules_fixture f;
  const header_list key{{"Idempotency-Key", "nightly-2026-01-15"}};
  const auto first = f.post_as(client_a, body_with("2026-01-15"), key);
  REQUIRE(first.status == 202);
  const auto id = first.json().at("backupRequestId").get<std::string>();
  REQUIRE(f.messages() == 1);

  // The same request again, written differently (field order, spaces, an unknown field): the first answer.
  const auto again = f.post_as(client_a,
                               R"({ "backupDataLocation": "/data/set-1", "dataDate": "2026-01-15",
                                   "backupJobId": "job-1", "apiVersion": "2022-05-22", "note": "retry" })",
                               key);
  CHECK(again.status == 202);
  CHECK(again.json().at("backupRequestId") == id);

  // Another payload under the same key: 422, whichever field differs.
  for (const auto& other : {body_with("2026-01-16"), body_with("2026-01-15", "/data/set-2"),
                            accept_body("job-2", "/data/set-1", "2026-01-15")}) {
    INFO(other);
    const auto r = f.post_as(client_a, other, key);
    CHECK(r.status == 422);
    CHECK(r.json().at("code") == "IdempotencyKeyReused");
    CHECK_THAT(r.json().at("message").get<std::string>(), Catch::Contains(id));
  }
  CHECK(f.messages() == 1);
  // Keys are per client: another client may use the same key for its own request.
  CHECK(f.post_as(client_b, body_with("2026-01-16"), key).status == 202);
  CHECK(f.messages() == 2);
}

TEST_CASE("a body that is not JSON is answered with its actual problem", "[receive_request][json]") {
  rules_fixture f;
  const auto fields = std::string(
      R"("apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-01-15","backupDataLocation":"/d")");
  const auto big = f.post_as(client_a, R"({"unknown":1e999999,)" + fields + "}");
  CHECK(big.status == 400);
  CHECK(big.json().at("code") == "InvalidJson");
  CHECK(big.json().at("message") ==
        "request body is not valid JSON: number out of range at line 1, column 12");

  const auto surrogate = f.post_as(client_a, R"({"unknown":"\ud800",)" + fields + "}");
  CHECK(surrogate.status == 400);
  CHECK(surrogate.json().at("code") == "InvalidJson");
  CHECK(surrogate.json().at("message") ==
        "request body is not valid JSON: invalid string: surrogate U+D800..U+DBFF must be followed by "
        "U+DC00..U+DFFF at line 1, column 19");

  const auto array = f.post_as(client_a, "[]");
  CHECK(array.json().at("message") == "request body must be a JSON object");
  CHECK(f.messages() == 0);
}

TEST_CASE("racing posts of one Idempotency-Key with different payloads: one 202, the others 422",
          "[receive_request][idempotency]") {
  rules_fixture f;
  const auto replies = post_concurrently(
      f.svc.port(), post_route, json_headers(token_for(client_a), {{"Idempotency-Key", "race-key"}}),
      [](int i) { return accept_body("job-1", "/race/" + std::to_string(i)); }, 8);
  int accepted = 0;
  for (const auto& r : replies) {
    require_conforms("POST", post_route, r);
    CHECK((r.status == 202 || r.status == 422));
    accepted += r.status == 202 ? 1 : 0;
  }
  CHECK(accepted == 1);
  CHECK(f.messages() == 1);
}
