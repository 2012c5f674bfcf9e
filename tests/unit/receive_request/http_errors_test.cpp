// The service's one mapping to HTTP: token failures 401, scope decisions 403/503, commit outcomes 503/500,
// validation failures 400 with their wire codes.
#include "bkr/receive_request/http_errors.hpp"

#include "bkr/auth/errors.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/errors.hpp"
#include "bkr/http/message.hpp"

#include <catch2/catch.hpp>

namespace rr = bkr::receive_request;

TEST_CASE("every token rejection maps to 401 Unauthorized naming the check, not the token",
          "[receive_request][errors]") {
  for (int c = static_cast<int>(bkr::auth::errc::missing_token);
       c <= static_cast<int>(bkr::auth::errc::missing_expiry); ++c) {
    const auto code = static_cast<bkr::auth::errc>(c);
    INFO(bkr::auth::to_string(code));
    const auto e = rr::token_error({bkr::auth::make_error_code(code), "details eyJhbGciOi"});
    const auto m = bkr::http::map_error(e.code);
    CHECK(m.status == 401);
    CHECK(m.code == "Unauthorized");
    CHECK(e.message.find("eyJ") == std::string::npos);
    if (code != bkr::auth::errc::missing_token)
      CHECK_THAT(e.message, Catch::Contains(std::string(bkr::auth::to_string(code))));
  }
  const auto r = bkr::http::error_response(
      rr::token_error({bkr::auth::make_error_code(bkr::auth::errc::expired), ""}), "req-1");
  CHECK(r.status == 401);
  CHECK(nlohmann::json::parse(r.body) == nlohmann::json{{"code", "Unauthorized"},
                                                        {"message", "invalid bearer token: expired"},
                                                        {"requestId", "req-1"}});
}

TEST_CASE("scope decisions: forbidden is 403, an unknown answer is 503 with Retry-After",
          "[receive_request][errors]") {
  CHECK_FALSE(rr::decision_error(bkr::auth::decision::allowed, "admin"));
  const auto forbidden =
      bkr::http::error_response(*rr::decision_error(bkr::auth::decision::forbidden, "admin"), "r");
  CHECK(forbidden.status == 403);
  CHECK(nlohmann::json::parse(forbidden.body).at("code") == "Forbidden");
  const auto unavailable =
      bkr::http::error_response(*rr::decision_error(bkr::auth::decision::unavailable, "admin"), "r");
  CHECK(unavailable.status == 503);
  CHECK(unavailable.headers.contains("Retry-After"));
  CHECK(nlohmann::json::parse(unavailable.body).at("code") == "Unavailable");
}

TEST_CASE("commit outcomes: nothing but a commit is a 202", "[receive_request][errors]") {
  CHECK_FALSE(rr::commit_error(rr::commit_status::committed));
  CHECK_FALSE(rr::commit_error(rr::commit_status::replayed));
  for (const auto s :
       {rr::commit_status::queue_full, rr::commit_status::unavailable, rr::commit_status::timed_out}) {
    INFO(rr::to_string(s));
    const auto r = bkr::http::error_response(*rr::commit_error(s), "r");
    CHECK(r.status == 503);
    CHECK(r.headers.contains("Retry-After"));
  }
  const auto failed = bkr::http::error_response(*rr::commit_error(rr::commit_status::failed), "r");
  CHECK(failed.status == 500);
  CHECK(nlohmann::json::parse(failed.body).at("code") == "Internal");
}

TEST_CASE("validation failures are 400 with their wire code and a message naming the field",
          "[receive_request][errors]") {
  struct sample {
    std::string body;
    std::string code;
    std::string field;
  };
  for (
      const auto& s : std::vector<sample>{
          {"{", "InvalidJson", ""},
          {R"({"apiVersion":"2022-05-23"})", "InvalidApiVersion", "apiVersion"},
          {R"({"apiVersion":"2022-05-22","backupJobId":"","dataDate":"2026-01-01","backupDataLocation":"/d"})",
           "BadData", "backupJobId"},
          {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-13-01","backupDataLocation":"/d"})",
           "BadData", "dataDate"},
          {R"({"apiVersion":"2022-05-22","backupJobId":"j","dataDate":"2026-01-01"})", "BadData",
           "backupDataLocation"}}) {
    INFO(s.body);
    const auto parsed = bkr::domain::parse_accept_body(s.body);
    REQUIRE_FALSE(parsed.has_value());
    const auto r = bkr::http::error_response(parsed.error(), "r");
    CHECK(r.status == 400);
    const auto j = nlohmann::json::parse(r.body);
    CHECK(j.at("code") == s.code);
    CHECK_THAT(j.at("message").get<std::string>(), Catch::Contains(s.field));
  }
}
