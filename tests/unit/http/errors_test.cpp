// The one error-to-HTTP mapping: statuses, wire codes, hidden internals, exceptions, JSON bodies.
#include "bkr/http/errors.hpp"
#include "bkr/http/message.hpp"

#include "bkr/domain/errors.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>

using namespace bkr::http;

TEST_CASE("every HTTP error kind maps to its status and code") {
  struct row {
    errc e;
    unsigned status;
    std::string_view code;
  };
  const row rows[] = {
      {errc::bad_request, 400, "BadRequest"},
      {errc::unauthorized, 401, "Unauthorized"},
      {errc::forbidden, 403, "Forbidden"},
      {errc::not_found, 404, "NotFound"},
      {errc::method_not_allowed, 405, "MethodNotAllowed"},
      {errc::request_timeout, 408, "RequestTimeout"},
      {errc::conflict, 409, "Conflict"},
      {errc::length_required, 411, "LengthRequired"},
      {errc::payload_too_large, 413, "PayloadTooLarge"},
      {errc::unsupported_media_type, 415, "UnsupportedMediaType"},
      {errc::too_many_requests, 429, "TooManyRequests"},
      {errc::header_too_large, 431, "RequestHeaderFieldsTooLarge"},
      {errc::internal, 500, "Internal"},
      {errc::unavailable, 503, "Unavailable"},
      {errc::not_ready, 503, "NotReady"},
  };
  for (const auto& r : rows) {
    const auto m = map_error(make_error_code(r.e));
    CHECK(m.status == r.status);
    CHECK(m.code == r.code);
    CHECK_FALSE(m.default_message.empty());
  }
  CHECK(map_error(make_error_code(errc::unavailable)).retry_after);
  CHECK_FALSE(map_error(make_error_code(errc::not_found)).retry_after);
}

TEST_CASE("domain validation errors are 400 with the domain's wire code") {
  using bkr::domain::errc;
  CHECK(map_error(make_error_code(errc::bad_data)).status == 400);
  CHECK(map_error(make_error_code(errc::bad_data)).code == "BadData");
  CHECK(map_error(make_error_code(errc::invalid_api_version)).code == "InvalidApiVersion");
  CHECK(map_error(make_error_code(errc::invalid_json)).code == "InvalidJson");
  CHECK(map_error(make_error_code(errc::invalid_transition)).status == 409);
}

TEST_CASE("unknown error categories are a 500 that shows nothing") {
  const auto m = map_error(std::make_error_code(std::errc::io_error));
  CHECK(m.status == 500);
  CHECK(m.code == "Internal");
  CHECK_FALSE(m.show_message);
}

TEST_CASE("error responses carry code, message and request id as JSON") {
  const auto r =
      error_response(bkr::domain::make_error(bkr::domain::errc::bad_data, "dataDate: not a date"), "rid-1");
  CHECK(r.status == 400);
  CHECK(r.content_type == "application/json");
  const auto body = nlohmann::json::parse(r.body);
  CHECK(body ==
        nlohmann::json{{"code", "BadData"}, {"message", "dataDate: not a date"}, {"requestId", "rid-1"}});
}

TEST_CASE("5xx responses never show the error's own message") {
  const bkr::error leaky{std::make_error_code(std::errc::io_error), "connection to db.internal:5432 failed"};
  const auto r = error_response(leaky, "rid");
  CHECK(r.status == 500);
  CHECK(r.body.find("db.internal") == std::string::npos);
  CHECK(nlohmann::json::parse(r.body)["message"] == "internal error");

  const auto u = error_response(make_error(errc::unavailable, "pool exhausted at host x"), "rid");
  CHECK(u.status == 503);
  CHECK(u.body.find("host x") == std::string::npos);
  CHECK(u.headers.get("Retry-After") == "1");
}

TEST_CASE("an empty message falls back to the kind's default message") {
  const auto r = error_response(errc::not_found, "", "rid");
  CHECK(nlohmann::json::parse(r.body)["message"] == "not found");
}

TEST_CASE("exceptions become error kinds without their text") {
  CHECK(error_from_exception(std::make_exception_ptr(std::runtime_error("boom"))).code ==
        make_error_code(errc::internal));
  CHECK(error_from_exception(std::make_exception_ptr(bkr::infrastructure_error("pg down", true))).code ==
        make_error_code(errc::unavailable));
  CHECK(error_from_exception(std::make_exception_ptr(bkr::infrastructure_error("bad config", false))).code ==
        make_error_code(errc::internal));
  const bkr::error e = bkr::domain::make_error(bkr::domain::errc::bad_data, "backupJobId: required");
  CHECK(error_from_exception(std::make_exception_ptr(bkr::error_exception(e))) == e);
  CHECK(error_from_exception(std::make_exception_ptr(42)).code == make_error_code(errc::internal));
}

TEST_CASE("error bodies escape whatever they carry") {
  const auto body = error_body("BadData", "quote \" and \n newline", "id\"x");
  const auto parsed = nlohmann::json::parse(body);
  CHECK(parsed["message"] == "quote \" and \n newline");
  CHECK(parsed["requestId"] == "id\"x");
}

TEST_CASE("the category names its codes") {
  CHECK(make_error_code(errc::payload_too_large).message() == "request body too large");
  CHECK(std::string(category().name()) == "bkr.http");
}
