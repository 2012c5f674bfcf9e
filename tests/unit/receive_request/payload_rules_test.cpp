// The intake's rules on what a request carries besides its body: which payload an Idempotency-Key is bound
// to, singleton headers sent twice, and the Bearer challenge of each token refusal.
#include "bkr/receive_request/accept.hpp"
#include "bkr/receive_request/http_errors.hpp"

#include "bkr/auth/errors.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/errors.hpp"
#include "bkr/http/message.hpp"

#include <catch2/catch.hpp>

namespace rr = bkr::receive_request;

namespace {

bkr::domain::accept_input input_of(std::string_view body) {
  auto input = bkr::domain::parse_accept_body(body);
  REQUIRE(input.has_value());
  return *input;
}

std::string challenge_of(const bkr::error& e) {
  const auto r = bkr::http::error_response(e, "rid");
  const auto v = r.headers.get("WWW-Authenticate");
  REQUIRE(v.has_value());
  return std::string(*v);
}

}  // namespace

TEST_CASE("the payload fingerprint follows the validated fields, not the text",
          "[receive_request][idempotency]") {
  const auto base = rr::request_fingerprint(input_of(
      R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-02-28","backupDataLocation":"/d/1"})"));
  CHECK(base.size() == 64);
  CHECK(base.find_first_not_of("0123456789abcdef") == std::string::npos);
  // Field order, spacing and unknown fields are the same request.
  CHECK(rr::request_fingerprint(input_of(R"({ "backupDataLocation" : "/d/1", "dataDate":"2026-02-28",
      "backupJobId":"job-1", "apiVersion":"2022-05-22", "note": [1, 2] })")) == base);
  // Any field changed is another request.
  for (
      const char* other :
      {R"({"apiVersion":"2022-05-22","backupJobId":"job-2","dataDate":"2026-02-28","backupDataLocation":"/d/1"})",
       R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-03-01","backupDataLocation":"/d/1"})",
       R"({"apiVersion":"2022-05-22","backupJobId":"job-1","dataDate":"2026-02-28","backupDataLocation":"/d/2"})"}) {
    INFO(other);
    CHECK(rr::request_fingerprint(input_of(other)) != base);
  }
}

TEST_CASE("a key repeated with the same payload replays, with another payload is a 422",
          "[receive_request][idempotency]") {
  bkr::storage::idempotent_response first{"0190f5a4-7c1e-7a00-8000-000000000001", 202,
                                          nlohmann::json::object(), std::string(64, 'a')};
  CHECK(rr::check_same_payload(first, std::string(64, 'a')).has_value());
  const auto other = rr::check_same_payload(first, std::string(64, 'b'));
  REQUIRE_FALSE(other.has_value());
  const auto r = bkr::http::error_response(other.error(), "rid");
  CHECK(r.status == 422);
  CHECK(nlohmann::json::parse(r.body).at("code") == "IdempotencyKeyReused");
  CHECK_THAT(nlohmann::json::parse(r.body).at("message").get<std::string>(),
             Catch::Contains("0190f5a4-7c1e-7a00-8000-000000000001"));
  // A key recorded before fingerprints were stored cannot be compared: it replays as it always did.
  first.request_fingerprint.reset();
  CHECK(rr::check_same_payload(first, std::string(64, 'b')).has_value());
}

TEST_CASE("Idempotency-Key sent twice is bad data, even with equal values", "[receive_request][accept]") {
  for (const auto& second : {std::string("k-1"), std::string("k-2")}) {
    const auto r = rr::idempotency_key({{"Idempotency-Key", "k-1"}, {"idempotency-key", second}});
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bkr::domain::errc::bad_data);
    CHECK(r.error().message == "Idempotency-Key must be sent once");
  }
}

TEST_CASE("token refusals carry their Bearer challenge", "[receive_request][auth][challenge]") {
  CHECK(challenge_of(rr::token_error({bkr::auth::make_error_code(bkr::auth::errc::missing_token), ""})) ==
        R"(Bearer realm="bkr")");
  CHECK(challenge_of(rr::token_error({bkr::auth::make_error_code(bkr::auth::errc::expired), "eyJ"})) ==
        R"(Bearer realm="bkr", error="invalid_token", error_description="invalid bearer token: expired")");
  CHECK(
      challenge_of(rr::repeated_authorization(2)) ==
      R"(Bearer realm="bkr", error="invalid_request", error_description="the request carries 2 Authorization )"
      R"(fields; send exactly one bearer token")");
  CHECK(bkr::http::error_response(rr::repeated_authorization(2), "rid").status == 400);
  CHECK_THAT(challenge_of(*rr::decision_error(bkr::auth::decision::forbidden, "admin")),
             Catch::StartsWith(R"(Bearer realm="bkr", error="insufficient_scope")"));
}
