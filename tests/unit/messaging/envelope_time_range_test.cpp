// The envelope's occurredAt must lie within the years 0001..9999 in UTC, whatever offset its text carries.
#include "bkr/messaging/envelope.hpp"

#include <catch2/catch.hpp>

#include <string>

namespace {

nlohmann::json envelope_at(std::string occurred_at) {
  return {{"messageId", "019b7716-0c7b-7000-8000-00000000000a"},
          {"type", "BackupRequestAllowed"},
          {"schemaVersion", 1},
          {"key", "0190c2f1-7a3b-7c4d-8e5f-112233445566"},
          {"occurredAt", std::move(occurred_at)},
          {"traceId", "4bf92f3577b34da6a3ce929d0e0e4736"},
          {"producer", "check-allowed"},
          {"attempt", 1},
          {"payload", {{"backupRequestId", "0190c2f1-7a3b-7c4d-8e5f-112233445566"}}}};
}

}  // namespace

// Found by fuzz_message_decoding: this envelope decoded, but to_json wrote its time as year 10000, which the
// decoder then refused.
TEST_CASE("an occurredAt that an offset moves out of years 0001..9999 UTC is an invalid envelope",
          "[messaging][envelope]") {
  for (const char* text : {"9999-12-31T23:59:59.999-00:01", "0001-01-01T00:00:00.000+00:01"}) {
    INFO(text);
    const auto r = bkr::messaging::envelope_from_json(envelope_at(text));
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == bkr::messaging::errc::invalid_envelope);
    CHECK(r.error().message == "envelope field 'occurredAt' must fall within the years 0001 to 9999 in UTC");
  }
}

TEST_CASE("occurredAt at the first and last millisecond of years 0001..9999 round-trips",
          "[messaging][envelope]") {
  for (const char* text : {"0001-01-01T00:00:00.000Z", "9999-12-31T23:59:59.999Z"}) {
    INFO(text);
    const auto r = bkr::messaging::envelope_from_json(envelope_at(text));
    REQUIRE(r.has_value());
    const auto json = bkr::messaging::to_json(*r);
    CHECK(json["occurredAt"] == text);
    const auto back = bkr::messaging::envelope_from_json(json);
    REQUIRE(back.has_value());
    CHECK(*back == *r);
  }
}
