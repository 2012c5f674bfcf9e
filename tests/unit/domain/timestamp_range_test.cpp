// Timestamps in wire JSON must lie within the years 0001..9999 in UTC, whatever offset their text carries.
#include "bkr/domain/errors.hpp"
#include "bkr/domain/messages.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

using namespace bkr::domain;
using namespace bkr::domain::test;
using nlohmann::json;

namespace {

json reply_copied(std::string_view start, std::string_view end) {
  return {{"apiVersion", "2022-08-15"},    {"backupRequestId", request_id},
          {"resultTypeCode", "Succeeded"}, {"storagePathName", "/vault/nightly"},
          {"backupByteCount", 1024},       {"copyStartTimestamp", start},
          {"copyEndTimestamp", end}};
}

}  // namespace

// Found by fuzz_message_decoding and fuzz_request_validation: a reply whose text is a valid RFC 3339
// timestamp with an offset was answered 202, then written to its message as year 10000 (or year 0), which
// ReceiveStatus refused (dead letter) and an SQL timestamp could not hold.
TEST_CASE("a reply timestamp that an offset moves past 9999-12-31 UTC is bad data", "[domain][json][reply]") {
  const auto r =
      parse_store_status_reply(reply_copied("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999-00:01"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::bad_data);
  CHECK(r.error().message == "copyEndTimestamp must fall within the years 0001 to 9999 in UTC");
}

TEST_CASE("a reply timestamp that an offset moves before 0001-01-01 UTC is bad data",
          "[domain][json][reply]") {
  const auto r = parse_store_status_reply(reply_copied("0001-01-01T00:00:00+00:01", "2026-02-03T10:00:00Z"));
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::bad_data);
  CHECK(r.error().message == "copyStartTimestamp must fall within the years 0001 to 9999 in UTC");
}

TEST_CASE("the first and last millisecond of years 0001..9999 are accepted and round-trip",
          "[domain][json][reply]") {
  const auto r =
      parse_store_status_reply(reply_copied("0001-01-01T00:30:00+00:30", "9999-12-31T23:59:59.999Z"));
  REQUIRE(r.has_value());
  const json again = *r;
  CHECK(again["copyStartTimestamp"] == "0001-01-01T00:00:00.000Z");
  CHECK(again["copyEndTimestamp"] == "9999-12-31T23:59:59.999Z");
  const auto back = parse_store_status_reply(again);
  REQUIRE(back.has_value());
  CHECK(*back == *r);
}

TEST_CASE("an accepted payload with an acceptedTimestamp in year 10000 UTC is bad data",
          "[domain][json][accepted]") {
  json j = to_accepted_payload(request_at(request_status::accepted));
  j["acceptedTimestamp"] = "9999-12-31T23:00:00-01:00";
  const auto r = parse_accepted_payload(j);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == errc::bad_data);
  CHECK(r.error().message == "acceptedTimestamp must fall within the years 0001 to 9999 in UTC");
}
