// Wire names of the domain enums, date formatting, and the domain error codes.
#include "bkr/domain/types.hpp"
#include "bkr/domain/errors.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

#include <system_error>

using namespace bkr::domain;
using bkr::domain::test::ymd;

TEST_CASE("request statuses have their DOMAIN.md wire names and parse back", "[domain][types]") {
  const std::pair<request_status, std::string_view> expected[] = {
      {request_status::accepted, "Accepted"}, {request_status::received, "Received"},
      {request_status::allowed, "Allowed"},   {request_status::not_allowed, "NotAllowed"},
      {request_status::sent, "Sent"},         {request_status::succeeded, "Succeeded"},
      {request_status::failed, "Failed"},
  };
  for (const auto& [status, name] : expected) {
    CHECK(to_string(status) == name);
    CHECK(parse_request_status(name) == status);
  }
  CHECK_FALSE(parse_request_status("accepted"));
  CHECK_FALSE(parse_request_status("Not Allowed"));
  CHECK_FALSE(parse_request_status(""));
}

TEST_CASE("providers, transports and store results have their wire names and parse back", "[domain][types]") {
  CHECK(to_string(provider::local) == "Local");
  CHECK(to_string(provider::cloud_a) == "CloudA");
  CHECK(to_string(provider::cloud_b) == "CloudB");
  for (auto p : {provider::local, provider::cloud_a, provider::cloud_b})
    CHECK(parse_provider(to_string(p)) == p);
  CHECK_FALSE(parse_provider("cloudA"));
  CHECK_FALSE(parse_provider(""));

  CHECK(to_string(transport::http) == "HTTP");
  CHECK(to_string(transport::queue) == "Queue");
  CHECK(parse_transport("HTTP") == transport::http);
  CHECK(parse_transport("Queue") == transport::queue);
  CHECK_FALSE(parse_transport("http"));

  CHECK(to_string(store_result::succeeded) == "Succeeded");
  CHECK(to_string(store_result::failed) == "Failed");
  CHECK(parse_store_result("Succeeded") == store_result::succeeded);
  CHECK(parse_store_result("Failed") == store_result::failed);
  CHECK_FALSE(parse_store_result("Success"));
}

TEST_CASE("dates are formatted as YYYY-MM-DD with zero padding", "[domain][types]") {
  CHECK(format_date(ymd(2026, 2, 3)) == "2026-02-03");
  CHECK(format_date(ymd(1, 1, 1)) == "0001-01-01");
  CHECK(format_date(ymd(9999, 12, 31)) == "9999-12-31");
  CHECK(format_date(ymd(2024, 2, 29)) == "2024-02-29");
}

TEST_CASE("domain error codes map to the HTTP wire codes", "[domain][errors]") {
  CHECK(wire_code(errc::invalid_json) == "InvalidJson");
  CHECK(wire_code(errc::invalid_api_version) == "InvalidApiVersion");
  CHECK(wire_code(errc::bad_data) == "BadData");
  CHECK(wire_code(errc::invalid_transition) == "InvalidTransition");
  CHECK(wire_code(errc::too_early) == "TooEarly");

  const std::error_code ec = errc::bad_data;  // registered as an error code enum
  CHECK(ec.category().name() == std::string_view("bkr.domain"));
  CHECK(wire_code(ec) == std::optional<std::string_view>("BadData"));
  CHECK_FALSE(wire_code(std::make_error_code(std::errc::invalid_argument)));
  CHECK_FALSE(ec.message().empty());
}

TEST_CASE("only too_early is transient", "[domain][errors]") {
  CHECK(is_transient(make_error_code(errc::too_early)));
  for (auto e : {errc::bad_data, errc::invalid_api_version, errc::invalid_json, errc::invalid_transition}) {
    CHECK_FALSE(is_transient(make_error_code(e)));
  }
  CHECK_FALSE(is_transient(std::make_error_code(std::errc::timed_out)));
}
