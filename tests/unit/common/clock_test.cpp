// Formatting and parsing of UTC millisecond timestamps; the manual clock.
#include "bkr/common/clock.hpp"

#include <catch2/catch.hpp>

using namespace std::chrono;

namespace {
bkr::timestamp at(int y, unsigned mo, unsigned d, int h, int mi, int s, int ms) {
  return bkr::timestamp{sys_days{year{y} / mo / d}.time_since_epoch() + hours{h} + minutes{mi} + seconds{s} +
                        milliseconds{ms}};
}
}  // namespace

TEST_CASE("format_timestamp writes RFC 3339 UTC with milliseconds") {
  CHECK(bkr::format_timestamp(at(2026, 11, 22, 10, 15, 30, 123)) == "2026-11-22T10:15:30.123Z");
  CHECK(bkr::format_timestamp(at(1999, 1, 2, 3, 4, 5, 6)) == "1999-01-02T03:04:05.006Z");
  CHECK(bkr::format_timestamp(at(2024, 2, 29, 23, 59, 59, 999)) == "2024-02-29T23:59:59.999Z");
}

TEST_CASE("parse_timestamp accepts RFC 3339 forms and normalises to UTC") {
  CHECK(bkr::parse_timestamp("2026-11-22T10:15:30.123Z") == at(2026, 11, 22, 10, 15, 30, 123));
  CHECK(bkr::parse_timestamp("2026-11-22T10:15:30Z") == at(2026, 11, 22, 10, 15, 30, 0));
  CHECK(bkr::parse_timestamp("2026-11-22 10:15:30.1Z") == at(2026, 11, 22, 10, 15, 30, 100));
  CHECK(bkr::parse_timestamp("2026-11-22T10:15:30.123456Z") == at(2026, 11, 22, 10, 15, 30, 123));
  CHECK(bkr::parse_timestamp("2026-11-22T12:15:30+02:00") == at(2026, 11, 22, 10, 15, 30, 0));
  CHECK(bkr::parse_timestamp("2026-11-22T00:30:00-01:00") == at(2026, 11, 22, 1, 30, 0, 0));
}

TEST_CASE("parse_timestamp rejects anything else") {
  for (const char* bad :
       {"", "2026-11-22", "2026-11-22T10:15:30", "2026-02-30T00:00:00Z", "2026-13-01T00:00:00Z",
        "2026-11-22T24:00:00Z", "2026-11-22T10:60:00Z", "2026-11-22T10:15:30.Z", "2026-11-22T10:15:30Zjunk",
        "26-11-22T10:15:30Z", "2026-11-22T10:15:30+0200", "2026-11-22X10:15:30Z"}) {
    INFO(bad);
    CHECK_FALSE(bkr::parse_timestamp(bad).has_value());
  }
}

TEST_CASE("format and parse round-trip") {
  const auto t = at(2031, 7, 4, 8, 9, 10, 11);
  CHECK(bkr::parse_timestamp(bkr::format_timestamp(t)) == t);
}

TEST_CASE("manual_clock moves only when told") {
  bkr::manual_clock c(at(2026, 1, 1, 0, 0, 0, 0));
  CHECK(c.now() == at(2026, 1, 1, 0, 0, 0, 0));
  c.advance(milliseconds{1500});
  CHECK(c.now() == at(2026, 1, 1, 0, 0, 1, 500));
  c.set(at(2027, 1, 1, 0, 0, 0, 0));
  CHECK(c.now() == at(2027, 1, 1, 0, 0, 0, 0));
}

TEST_CASE("system_clock is close to the wall clock") {
  const auto before = floor<milliseconds>(system_clock::now());
  const auto now = bkr::system_clock{}.now();
  const auto after = floor<milliseconds>(system_clock::now());
  CHECK(now >= before);
  CHECK(now <= after);
}
