// Bearer challenges on the answers that refuse credentials (RFC 9110 15.5.2, RFC 6750 3), the 422 of a reused
// Idempotency-Key, and counting repeated header fields.
#include "bkr/http/errors.hpp"
#include "bkr/http/fields.hpp"
#include "bkr/http/message.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

using namespace bkr::http;

namespace {

std::string challenge_of(const response& r) {
  const auto v = r.headers.get("WWW-Authenticate");
  REQUIRE(v.has_value());
  return std::string(*v);
}

}  // namespace

TEST_CASE("a 401 without credentials challenges with the realm only", "[http][errors][challenge]") {
  const auto r = error_response(errc::unauthorized, "missing bearer token", "rid");
  CHECK(r.status == 401);
  CHECK(challenge_of(r) == R"(Bearer realm="bkr")");
  CHECK(nlohmann::json::parse(r.body)["code"] == "Unauthorized");
}

TEST_CASE("a 401 for a refused token says invalid_token and why", "[http][errors][challenge]") {
  const auto r = error_response(errc::invalid_token, "invalid bearer token: expired", "rid");
  CHECK(r.status == 401);
  CHECK(challenge_of(r) ==
        R"(Bearer realm="bkr", error="invalid_token", error_description="invalid bearer token: expired")");
  CHECK(nlohmann::json::parse(r.body)["code"] == "Unauthorized");
  CHECK(nlohmann::json::parse(r.body)["message"] == "invalid bearer token: expired");
}

TEST_CASE("two Authorization fields are a 400 invalid_request, a missing scope a 403 insufficient_scope",
          "[http][errors][challenge]") {
  const auto twice = error_response(errc::invalid_auth_request, "two Authorization fields", "rid");
  CHECK(twice.status == 400);
  CHECK(nlohmann::json::parse(twice.body)["code"] == "BadRequest");
  CHECK(challenge_of(twice) ==
        R"(Bearer realm="bkr", error="invalid_request", error_description="two Authorization fields")");
  const auto scope = error_response(errc::insufficient_scope, "lacks the scope admin", "rid");
  CHECK(scope.status == 403);
  CHECK(nlohmann::json::parse(scope.body)["code"] == "Forbidden");
  CHECK(challenge_of(scope) ==
        R"(Bearer realm="bkr", error="insufficient_scope", error_description="lacks the scope admin")");
}

TEST_CASE("error_description holds only the characters RFC 6750 allows", "[http][errors][challenge]") {
  CHECK(bearer_challenge("invalid_token", "say \"hi\" \\ caf\xc3\xa9\n") ==
        R"(Bearer realm="bkr", error="invalid_token", error_description="say ?hi? ? caf???")");
  CHECK(bearer_challenge("", "ignored") == R"(Bearer realm="bkr")");
}

TEST_CASE("other errors carry no challenge", "[http][errors][challenge]") {
  for (const auto e : {errc::bad_request, errc::forbidden, errc::not_found, errc::unavailable}) {
    CHECK_FALSE(error_response(e, "x", "rid").headers.contains("WWW-Authenticate"));
  }
}

TEST_CASE("an Idempotency-Key reused with another payload is a 422", "[http][errors]") {
  const auto r = error_response(errc::idempotency_key_reused, "first used with another payload", "rid");
  CHECK(r.status == 422);
  const auto body = nlohmann::json::parse(r.body);
  CHECK(body["code"] == "IdempotencyKeyReused");
  CHECK(body["message"] == "first used with another payload");
}

TEST_CASE("fields count repeated names case-insensitively", "[http][fields]") {
  fields f{{"Authorization", "Bearer a"}, {"authorization", "Bearer b"}, {"Host", "x"}};
  CHECK(f.count("AUTHORIZATION") == 2);
  CHECK(f.count("host") == 1);
  CHECK(f.count("Idempotency-Key") == 0);
}
