// JSON log lines: one parseable object per line with the standard and bound fields, level filtering.
#include "bkr/common/log.hpp"

#include "bkr/common/clock.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <catch2/catch.hpp>

#include <sstream>

namespace {
std::vector<nlohmann::json> lines(const std::string& text) {
  std::vector<nlohmann::json> out;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);)
    out.push_back(nlohmann::json::parse(line));
  return out;
}
}  // namespace

TEST_CASE("each log call writes one JSON object with service, level, message and fields") {
  std::ostringstream os;
  bkr::logger log("create-request", spdlog::level::info,
                  std::make_shared<spdlog::sinks::ostream_sink_mt>(os));
  log.info("request received", {{"backupRequestId", "abc"}, {"attempt", 2}});
  log.debug("not shown");
  log.with({{"queue", "backup-request.accepted"}}).warn("slow \"quoted\"\nmessage", {{"ms", 12}});
  const auto out = lines(os.str());
  REQUIRE(out.size() == 2);
  CHECK(out[0]["service"] == "create-request");
  CHECK(out[0]["level"] == "info");
  CHECK(out[0]["msg"] == "request received");
  CHECK(out[0]["backupRequestId"] == "abc");
  CHECK(out[0]["attempt"] == 2);
  CHECK(bkr::parse_timestamp(out[0]["ts"].get<std::string>()).has_value());
  CHECK(out[1]["level"] == "warn");
  CHECK(out[1]["queue"] == "backup-request.accepted");
  CHECK(out[1]["msg"] == "slow \"quoted\"\nmessage");
  CHECK(out[1]["ms"] == 12);
}

TEST_CASE("invalid UTF-8 in a field does not throw and still yields valid JSON") {
  std::ostringstream os;
  bkr::logger log("svc", spdlog::level::info, std::make_shared<spdlog::sinks::ostream_sink_mt>(os));
  log.info("bad bytes", {{"value", std::string("a\xff\xfe")}});
  const auto out = lines(os.str());
  REQUIRE(out.size() == 1);
  CHECK(out[0]["msg"] == "bad bytes");
}

TEST_CASE("parse_log_level knows the level names") {
  CHECK(bkr::parse_log_level("debug") == spdlog::level::debug);
  CHECK(bkr::parse_log_level("error") == spdlog::level::err);
  CHECK_FALSE(bkr::parse_log_level("loud").has_value());
}
