// X-Request-Id and traceparent validation, and the choice of the request id.
#include "bkr/http/request_id.hpp"

#include "bkr/common/ids.hpp"

#include <catch2/catch.hpp>

using namespace bkr::http;

namespace {
constexpr std::string_view valid_tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
}

TEST_CASE("a valid traceparent is parsed into its fields") {
  const auto tc = parse_traceparent(valid_tp);
  REQUIRE(tc.has_value());
  CHECK(tc->version == "00");
  CHECK(tc->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
  CHECK(tc->parent_id == "00f067aa0ba902b7");
  CHECK(tc->flags == "01");
  CHECK(tc->header == valid_tp);
}

TEST_CASE("invalid traceparent headers are refused") {
  CHECK_FALSE(parse_traceparent(""));
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7"));     // no flags
  CHECK_FALSE(parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));  // uppercase
  CHECK_FALSE(parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));  // zero trace
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));  // zero parent
  CHECK_FALSE(parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));  // version ff
  CHECK_FALSE(
      parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"));  // v00 + extra
  CHECK_FALSE(parse_traceparent("00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e473g-00f067aa0ba902b7-01"));
  CHECK_FALSE(parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01x"));
}

TEST_CASE("a later traceparent version may carry more fields") {
  const auto tc = parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-future");
  REQUIRE(tc.has_value());
  CHECK(tc->version == "01");
  CHECK(tc->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");
}

TEST_CASE("request ids are 1..128 printable ASCII characters") {
  CHECK(is_valid_request_id("a"));
  CHECK(is_valid_request_id("req 42/abc-DEF_~"));
  CHECK(is_valid_request_id(std::string(128, 'x')));
  CHECK_FALSE(is_valid_request_id(""));
  CHECK_FALSE(is_valid_request_id(std::string(129, 'x')));
  CHECK_FALSE(is_valid_request_id("tab\there"));
  CHECK_FALSE(is_valid_request_id("caf\xc3\xa9"));
  CHECK_FALSE(is_valid_request_id(std::string("nul\0x", 5)));
}

TEST_CASE("the request id comes from X-Request-Id, else traceparent, else a new UUIDv7") {
  const auto both = identify_request("client-id-1", valid_tp);
  CHECK(both.request_id == "client-id-1");
  REQUIRE(both.trace.has_value());
  CHECK(both.trace->trace_id == "4bf92f3577b34da6a3ce929d0e0e4736");

  const auto tp_only = identify_request(std::nullopt, valid_tp);
  CHECK(tp_only.request_id == "4bf92f3577b34da6a3ce929d0e0e4736");

  const auto none = identify_request(std::nullopt, std::nullopt);
  CHECK(bkr::uuid_v7_time(none.request_id).has_value());
  CHECK_FALSE(none.trace.has_value());

  const auto invalid = identify_request(std::string(200, 'x'), "garbage");
  CHECK(bkr::uuid_v7_time(invalid.request_id).has_value());
  CHECK_FALSE(invalid.trace.has_value());

  CHECK(identify_request(std::nullopt, std::nullopt).request_id !=
        identify_request(std::nullopt, std::nullopt).request_id);
}
