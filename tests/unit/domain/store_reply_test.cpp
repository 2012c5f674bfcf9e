// Store status replies: validation, the decision table of ReceiveStatus, the Backup record and its due date.
#include "bkr/domain/store_reply.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/messages.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

#include <limits>

using namespace bkr::domain;
using namespace bkr::domain::test;
using nlohmann::json;

namespace {

using enum request_status;

std::string repeat(char c, std::size_t n) {
  return std::string(n, c);
}

json success_json() {
  return json{
      {"apiVersion", "2022-08-15"},
      {"backupRequestId", request_id},
      {"resultTypeCode", "Succeeded"},
      {"storagePathName", "/vault/nightly/2026-02-03/export.tar"},
      {"backupByteCount", 123456789},
      {"copyStartTimestamp", "2026-02-03T10:01:00.000Z"},
      {"copyEndTimestamp", "2026-02-03T10:04:00.000Z"},
      {"verifyStartTimestamp", "2026-02-03T10:04:01.000Z"},
      {"verifyEndTimestamp", "2026-02-03T10:04:30.000Z"},
      {"verifiedHash", "sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08"},
      {"messageText", "stored"},
  };
}

json failure_json() {
  return json{{"apiVersion", "2022-08-15"},
              {"backupRequestId", request_id},
              {"resultTypeCode", "Failed"},
              {"messageText", "source path not found"}};
}

std::string reply_error(const json& j) {
  const auto r = parse_store_status_reply(j);
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code == make_error_code(errc::bad_data));
  return r.error().message;
}

json with(json j, const std::string& key, json value) {
  j[key] = std::move(value);
  return j;
}

json without(json j, const std::string& key) {
  j.erase(key);
  return j;
}

reply_outcome outcome_of(const bkr::result<reply_outcome>& r) {
  REQUIRE(r.has_value());
  return *r;
}

}  // namespace

TEST_CASE("a complete success reply parses", "[domain][reply][parse]") {
  const auto r = parse_store_status_reply(success_json());
  REQUIRE(r.has_value());
  CHECK(*r == success_reply());
}

TEST_CASE("a minimal failure reply parses, optional fields absent or null are unset",
          "[domain][reply][parse]") {
  const auto minimal = parse_store_status_reply(without(failure_json(), "messageText"));
  REQUIRE(minimal.has_value());
  CHECK(minimal->result_type_code == store_result::failed);
  CHECK_FALSE(minimal->storage_path_name);
  CHECK_FALSE(minimal->backup_byte_count);
  CHECK_FALSE(minimal->message_text);

  auto nulls = failure_json();
  for (const char* key : {"storagePathName", "backupByteCount", "copyStartTimestamp", "copyEndTimestamp",
                          "verifyStartTimestamp", "verifyEndTimestamp", "verifiedHash", "messageText"}) {
    nulls[key] = nullptr;
  }
  const auto parsed = parse_store_status_reply(nulls);
  REQUIRE(parsed.has_value());
  CHECK_FALSE(parsed->message_text);
  CHECK_FALSE(parsed->copy_start_timestamp);
}

TEST_CASE("unknown reply fields are ignored", "[domain][reply][parse]") {
  const auto r = parse_store_status_reply(with(success_json(), "interfaceNode", json{{"x", 1}}));
  REQUIRE(r.has_value());
  CHECK(*r == success_reply());
}

TEST_CASE("reply apiVersion is a real YYYY-MM-DD date", "[domain][reply][parse]") {
  CHECK(parse_store_status_reply(with(success_json(), "apiVersion", "2024-02-29")).has_value());
  CHECK(reply_error(without(success_json(), "apiVersion")) == "apiVersion is required");
  CHECK(reply_error(with(success_json(), "apiVersion", 20220815)) == "apiVersion must be a string");
  for (const char* bad : {"2022-13-15", "2022-02-30", "v1", "2022-8-15", "2022-08-15T00:00:00Z"}) {
    INFO(bad);
    CHECK(reply_error(with(success_json(), "apiVersion", bad)) ==
          "apiVersion must be a real calendar date in the form YYYY-MM-DD");
  }
}

TEST_CASE("reply backupRequestId is 1..50 printable ASCII", "[domain][reply][parse]") {
  CHECK(parse_store_status_reply(with(failure_json(), "backupRequestId", repeat('r', 50))).has_value());
  CHECK(parse_store_status_reply(with(failure_json(), "backupRequestId", "r")).has_value());
  CHECK(reply_error(without(failure_json(), "backupRequestId")) == "backupRequestId is required");
  CHECK(reply_error(with(failure_json(), "backupRequestId", "")) == "backupRequestId must not be empty");
  CHECK(reply_error(with(failure_json(), "backupRequestId", repeat('r', 51))) ==
        "backupRequestId must be at most 50 characters");
  CHECK(reply_error(with(failure_json(), "backupRequestId", "a b")) ==
        "backupRequestId must contain only printable ASCII characters, without whitespace");
}

TEST_CASE("resultTypeCode is Succeeded or Failed", "[domain][reply][parse]") {
  CHECK(reply_error(without(failure_json(), "resultTypeCode")) == "resultTypeCode is required");
  for (const json& bad : {json("succeeded"), json("Success"), json(""), json("Unknown")}) {
    CHECK(reply_error(with(failure_json(), "resultTypeCode", bad)) ==
          "resultTypeCode must be Succeeded or Failed");
  }
  CHECK(reply_error(with(failure_json(), "resultTypeCode", 1)) == "resultTypeCode must be a string");
}

TEST_CASE("a success reply needs path, byte count and copy timestamps", "[domain][reply][parse]") {
  for (const char* key : {"storagePathName", "backupByteCount", "copyStartTimestamp", "copyEndTimestamp"}) {
    INFO(key);
    CHECK(reply_error(without(success_json(), key)) ==
          std::string(key) + " is required when resultTypeCode is Succeeded");
    CHECK(reply_error(with(success_json(), key, nullptr)) ==
          std::string(key) + " is required when resultTypeCode is Succeeded");
  }
  // The verify fields, hash and message are optional even on success.
  auto minimal = success_json();
  for (const char* key : {"verifyStartTimestamp", "verifyEndTimestamp", "verifiedHash", "messageText"}) {
    minimal.erase(key);
  }
  CHECK(parse_store_status_reply(minimal).has_value());
}

TEST_CASE("reply storagePathName is 1..250 characters", "[domain][reply][parse]") {
  CHECK(parse_store_status_reply(with(success_json(), "storagePathName", repeat('s', 250))).has_value());
  CHECK(reply_error(with(success_json(), "storagePathName", repeat('s', 251))) ==
        "storagePathName must be at most 250 characters");
  CHECK(reply_error(with(success_json(), "storagePathName", "")) == "storagePathName must not be empty");
  CHECK(reply_error(with(success_json(), "storagePathName", "/a\nb")) ==
        "storagePathName must not contain control characters");
  // Fields a Failed reply carries are checked by the same rules.
  CHECK(reply_error(with(failure_json(), "storagePathName", "")) == "storagePathName must not be empty");
}

TEST_CASE("backupByteCount is an integer from 0 to 2^63-1", "[domain][reply][parse]") {
  const std::string range_message = "backupByteCount must be an integer from 0 to 9223372036854775807";
  CHECK(parse_store_status_reply(with(success_json(), "backupByteCount", 0)).value().backup_byte_count == 0);
  CHECK(parse_store_status_reply(
            with(success_json(), "backupByteCount", std::numeric_limits<std::int64_t>::max()))
            .value()
            .backup_byte_count == std::numeric_limits<std::int64_t>::max());
  CHECK(reply_error(with(success_json(), "backupByteCount", -1)) == range_message);
  CHECK(reply_error(with(success_json(), "backupByteCount", 9223372036854775808ull)) == range_message);
  CHECK(reply_error(with(success_json(), "backupByteCount", 1.5)) == range_message);
  CHECK(reply_error(with(success_json(), "backupByteCount", 1.0)) == range_message);
  CHECK(reply_error(with(success_json(), "backupByteCount", "12")) == range_message);
  CHECK(reply_error(with(success_json(), "backupByteCount", true)) == range_message);
  // From text, 1e3 is a floating-point number and 2^64 does not fit any integer type.
  CHECK_FALSE(parse_store_status_reply(json::parse(R"({"apiVersion":"2022-08-15","backupRequestId":"r",)"
                                                   R"("resultTypeCode":"Failed","backupByteCount":1e3})"))
                  .has_value());
  CHECK_FALSE(parse_store_status_reply(
                  json::parse(R"({"apiVersion":"2022-08-15","backupRequestId":"r",)"
                              R"("resultTypeCode":"Failed","backupByteCount":18446744073709551616})"))
                  .has_value());
}

TEST_CASE("reply timestamps are RFC 3339 and in order", "[domain][reply][parse]") {
  for (const char* key :
       {"copyStartTimestamp", "copyEndTimestamp", "verifyStartTimestamp", "verifyEndTimestamp"}) {
    for (const char* bad : {"2026-02-03", "yesterday", "2026-02-30T10:00:00Z", "2026-02-03T10:00:00"}) {
      INFO(key << " = " << bad);
      CHECK(reply_error(with(success_json(), key, bad)) ==
            std::string(key) + " must be an RFC 3339 timestamp such as 2026-11-22T10:15:30.123Z");
    }
    CHECK(reply_error(with(success_json(), key, 1700000000)) == std::string(key) + " must be a string");
  }
  // Offsets are normalised to UTC.
  const auto offset =
      parse_store_status_reply(with(success_json(), "copyEndTimestamp", "2026-02-03T12:04:00+02:00"));
  REQUIRE(offset.has_value());
  CHECK(offset->copy_end_timestamp == at("2026-02-03T10:04:00.000Z"));

  CHECK(reply_error(with(success_json(), "copyEndTimestamp", "2026-02-03T10:00:59.999Z")) ==
        "copyEndTimestamp must not be before copyStartTimestamp");
  CHECK(parse_store_status_reply(with(success_json(), "copyEndTimestamp", "2026-02-03T10:01:00.000Z"))
            .has_value());
  CHECK(reply_error(with(success_json(), "verifyEndTimestamp", "2026-02-03T10:04:00.999Z")) ==
        "verifyEndTimestamp must not be before verifyStartTimestamp");
  // One verify timestamp alone is fine.
  CHECK(parse_store_status_reply(without(success_json(), "verifyEndTimestamp")).has_value());
}

TEST_CASE("verifiedHash and messageText are at most 250 characters", "[domain][reply][parse]") {
  CHECK(parse_store_status_reply(with(success_json(), "verifiedHash", repeat('h', 250))).has_value());
  CHECK(reply_error(with(success_json(), "verifiedHash", repeat('h', 251))) ==
        "verifiedHash must be at most 250 characters");
  CHECK(reply_error(with(success_json(), "verifiedHash", "abc\n")) ==
        "verifiedHash must not contain control characters");
  CHECK(parse_store_status_reply(with(failure_json(), "messageText", repeat('m', 250))).has_value());
  CHECK(parse_store_status_reply(with(failure_json(), "messageText", "")).has_value());
  CHECK(reply_error(with(failure_json(), "messageText", repeat('m', 251))) ==
        "messageText must be at most 250 characters");
  CHECK(
      parse_store_status_reply(with(failure_json(), "messageText", "line 1\nline 2")).value().message_text ==
      std::optional<std::string>("line 1\nline 2"));
  CHECK(reply_error(with(failure_json(), "messageText", "bell\x07")) ==
        "messageText must not contain control characters");
}

TEST_CASE("a reply that is not a JSON object is InvalidJson", "[domain][reply][parse]") {
  for (const json& j : {json::array(), json("text"), json(nullptr), json(3)}) {
    const auto r = parse_store_status_reply(j);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::invalid_json));
  }
  for (const char* text : {"", "{", "[]", "not json"}) {
    const auto r = parse_store_status_reply_text(text);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().code == make_error_code(errc::invalid_json));
  }
  CHECK(parse_store_status_reply_text(success_json().dump()).value() == success_reply());
}

TEST_CASE("dueToDeleteDate adds calendar days across month, year and leap boundaries",
          "[domain][reply][due]") {
  const std::tuple<date, int, date> cases[] = {
      {ymd(2026, 2, 3), 0, ymd(2026, 2, 3)},      {ymd(2026, 2, 3), 30, ymd(2026, 3, 5)},
      {ymd(2026, 1, 31), 1, ymd(2026, 2, 1)},     {ymd(2026, 4, 30), 1, ymd(2026, 5, 1)},
      {ymd(2026, 12, 31), 1, ymd(2027, 1, 1)},    {ymd(2024, 2, 28), 1, ymd(2024, 2, 29)},
      {ymd(2023, 2, 28), 1, ymd(2023, 3, 1)},     {ymd(2024, 2, 29), 1, ymd(2024, 3, 1)},
      {ymd(2024, 2, 29), 365, ymd(2025, 2, 28)},  {ymd(2024, 2, 29), 366, ymd(2025, 3, 1)},
      {ymd(1900, 2, 28), 1, ymd(1900, 3, 1)},     {ymd(2000, 2, 28), 1, ymd(2000, 2, 29)},
      {ymd(2026, 1, 1), 3650, ymd(2035, 12, 30)}, {ymd(2026, 1, 1), 100000, ymd(2299, 10, 17)},
      {ymd(9999, 12, 30), 1, ymd(9999, 12, 31)},
  };
  for (const auto& [from, days, expected] : cases) {
    INFO(format_date(from) << " + " << days);
    CHECK(due_to_delete_date(from, days).value() == expected);
  }
  CHECK(due_to_delete_date(ymd(2026, 2, 3), -1).error().message == "daysToKeep must not be negative");
}

TEST_CASE("dueToDeleteDate past 9999-12-31 saturates there: every valid dataDate and job makes a Backup",
          "[domain][reply][due]") {
  const std::tuple<date, int> cases[] = {
      {ymd(9999, 12, 31), 0},
      {ymd(9999, 12, 31), 1},
      {ymd(9999, 12, 31), 3650},
      {ymd(9999, 12, 30), 2},
      {ymd(9990, 1, 1), 3653},
      {ymd(2026, 2, 3), std::numeric_limits<int>::max()},
      {ymd(1, 1, 1), std::numeric_limits<int>::max()},
  };
  for (const auto& [from, days] : cases) {
    INFO(format_date(from) << " + " << days);
    CHECK(due_to_delete_date(from, days).value() == ymd(9999, 12, 31));
  }
  CHECK(due_to_delete_date(ymd(1, 1, 1), 0).value() == ymd(1, 1, 1));
  CHECK(due_to_delete_date(ymd(1, 1, 1), 365).value() == ymd(2, 1, 1));
}

TEST_CASE("make_backup takes each field from its source", "[domain][reply][backup]") {
  const auto request = request_at(sent);  // provider CloudA, storage path /vault/nightly
  auto job = active_job();
  job.backup_provider_code = provider::local;  // changed since the request was allowed: the request's wins
  job.storage_path_name = "/elsewhere";        // the reply says where the data really went
  job.days_to_keep = 3650;
  job.hold_flag = true;
  const auto b = make_backup(request, success_reply(), job, "backup-1").value();

  CHECK(b.backup_id == "backup-1");
  CHECK(b.backup_request_id == request.backup_request_id);
  CHECK(b.backup_job_id == request.backup_job_id);
  CHECK(b.data_date == request.data_date);
  CHECK(b.storage_path_name == "/vault/nightly/2026-02-03/export.tar");
  CHECK(b.backup_provider_code == provider::cloud_a);
  CHECK(b.days_to_keep_count == 3650);
  CHECK(b.hold_flag);
  CHECK(b.backup_byte_count == 123456789);
  CHECK(b.copy_start_timestamp == at("2026-02-03T10:01:00.000Z"));
  CHECK(b.copy_end_timestamp == at("2026-02-03T10:04:00.000Z"));
  CHECK(b.verify_start_timestamp == at("2026-02-03T10:04:01.000Z"));
  CHECK(b.verify_end_timestamp == at("2026-02-03T10:04:30.000Z"));
  CHECK(b.verify_hash_text == success_reply().verified_hash);
  CHECK(b.due_to_delete_date == ymd(2036, 2, 1));
  CHECK_FALSE(b.deleted_timestamp);
}

TEST_CASE("make_backup refuses what cannot make a Backup", "[domain][reply][backup]") {
  CHECK(make_backup(request_at(sent), failure_reply(), active_job(), "b").error().code ==
        make_error_code(errc::bad_data));
  auto incomplete = success_reply();
  incomplete.backup_byte_count.reset();
  CHECK_FALSE(make_backup(request_at(sent), incomplete, active_job(), "b").has_value());
  CHECK(make_backup(request_at(received), success_reply(), active_job(), "b")
            .error()
            .message.find("backupProviderCode") != std::string::npos);
}

TEST_CASE("the reply decision table, row by row", "[domain][reply][decision]") {
  enum class expect { too_early, forbidden, none, to_succeeded, to_failed };
  struct row {
    bool backup_exists;
    store_result reply;
    request_status status;
    bool creates_backup;
    expect request;
  };
  using sr = store_result;
  // clang-format off
  const row table[] = {
      // Before Sent the interface may be faster than SendToInterface's commit: retry later.
      {false, sr::succeeded, accepted,    false, expect::too_early},
      {false, sr::succeeded, received,    false, expect::too_early},
      {false, sr::succeeded, allowed,     false, expect::too_early},
      {false, sr::failed,    allowed,     false, expect::too_early},
      {true,  sr::succeeded, allowed,     false, expect::too_early},
      // NotAllowed was never sent: no reply can apply.
      {false, sr::succeeded, not_allowed, false, expect::forbidden},
      {false, sr::failed,    not_allowed, false, expect::forbidden},
      {true,  sr::failed,    not_allowed, false, expect::forbidden},
      // A Backup exists: the request ends Succeeded whatever the reply says.
      {true,  sr::succeeded, sent,        false, expect::to_succeeded},
      {true,  sr::failed,    sent,        false, expect::to_succeeded},
      {true,  sr::succeeded, failed,      false, expect::to_succeeded},
      {true,  sr::failed,    failed,      false, expect::to_succeeded},
      {true,  sr::succeeded, succeeded,   false, expect::none},
      {true,  sr::failed,    succeeded,   false, expect::none},
      // No Backup, success: create it; the request ends Succeeded (also from Failed).
      {false, sr::succeeded, sent,        true,  expect::to_succeeded},
      {false, sr::succeeded, failed,      true,  expect::to_succeeded},
      {false, sr::succeeded, succeeded,   true,  expect::none},
      // No Backup, failure: Sent -> Failed; never backwards from Succeeded; Failed stays.
      {false, sr::failed,    sent,        false, expect::to_failed},
      {false, sr::failed,    failed,      false, expect::none},
      {false, sr::failed,    succeeded,   false, expect::none},
  };
  // clang-format on
  for (const auto& r : table) {
    INFO("backup exists " << r.backup_exists << ", reply " << to_string(r.reply) << ", request "
                          << to_string(r.status));
    const auto request = request_at(r.status);
    const auto reply = r.reply == sr::succeeded ? success_reply() : failure_reply();
    const auto ctx = context_for(pipeline_stage::receive_status, "reply-msg");
    const auto result =
        apply_store_status_reply(request, reply, r.backup_exists, active_job(), ctx, "new-backup");

    if (r.request == expect::too_early) {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().code == make_error_code(errc::too_early));
      CHECK(is_transient(result.error().code));
      continue;
    }
    if (r.request == expect::forbidden) {
      REQUIRE_FALSE(result.has_value());
      CHECK(result.error().code == make_error_code(errc::invalid_transition));
      CHECK_FALSE(is_transient(result.error().code));
      continue;
    }
    const auto outcome = outcome_of(result);
    CHECK(outcome.new_backup.has_value() == r.creates_backup);
    if (outcome.new_backup)
      CHECK(outcome.new_backup->backup_id == "new-backup");

    if (r.request == expect::none) {
      REQUIRE(std::holds_alternative<already_done>(outcome.request));
      CHECK(std::get<already_done>(outcome.request).status == r.status);
      continue;
    }
    REQUIRE(std::holds_alternative<applied>(outcome.request));
    const auto& a = std::get<applied>(outcome.request);
    const auto to = r.request == expect::to_succeeded ? succeeded : failed;
    auto expected = request;
    expected.status_type_code = to;
    expected.reply_timestamp = ctx.now;
    expected.reply_message_text = reply.message_text;
    CHECK(a.request == expected);
    CHECK(a.expected_status == r.status);
    CHECK(a.history.from_status == r.status);
    CHECK(a.history.to_status == to);
    CHECK(a.history.stage == "receive-status");
    CHECK(a.history.message_id == "reply-msg");
    CHECK(a.history.at == ctx.now);
    CHECK(a.history.reason == (r.backup_exists ? std::optional<std::string>("BackupExists") : std::nullopt));
  }
}

TEST_CASE("the reply text belongs to the reply that made the last change", "[domain][reply][decision]") {
  auto reply = success_reply();
  reply.message_text.reset();
  const auto outcome = outcome_of(apply_store_status_reply(request_at(failed), reply, false, active_job(),
                                                           context_for(pipeline_stage::receive_status), "b"));
  const auto& a = std::get<applied>(outcome.request);
  CHECK(a.request.status_type_code == succeeded);
  CHECK_FALSE(a.request.reply_message_text);  // the earlier failure's text is gone
  CHECK(a.request.reply_timestamp == context_for(pipeline_stage::receive_status).now);
}

TEST_CASE("a reply for another request is BadData", "[domain][reply][decision]") {
  auto other = success_reply();
  other.backup_request_id = "someone-else";
  const auto ctx = context_for(pipeline_stage::receive_status);
  CHECK(apply_store_status_reply(request_at(sent), other, false, active_job(), ctx, "b").error().code ==
        make_error_code(errc::bad_data));
}

TEST_CASE("a success whose job was deleted meanwhile records the Backup on hold and ends Succeeded",
          "[domain][reply][decision]") {
  const auto ctx = context_for(pipeline_stage::receive_status);
  for (const auto from : {sent, failed}) {
    INFO(to_string(from));
    const auto no_job =
        apply_store_status_reply(request_at(from), success_reply(), false, std::nullopt, ctx, "b");
    REQUIRE(no_job.has_value());
    REQUIRE(no_job->new_backup.has_value());
    CHECK(no_job->new_backup->hold_flag);
    CHECK(no_job->new_backup->days_to_keep_count == 0);
    CHECK(no_job->new_backup->backup_job_id == "job-nightly-42");
    CHECK(no_job->new_backup->due_to_delete_date == request_at(from).data_date);
    const auto* move = std::get_if<applied>(&no_job->request);
    REQUIRE(move != nullptr);
    CHECK(move->request.status_type_code == succeeded);
    CHECK(move->history.reason == std::optional<std::string>(reason_job_gone_backup_on_hold));
  }

  // A failure needs no job, nor does a success once the Backup exists.
  CHECK(
      apply_store_status_reply(request_at(sent), failure_reply(), false, std::nullopt, ctx, "b").has_value());
  CHECK(
      apply_store_status_reply(request_at(sent), success_reply(), true, std::nullopt, ctx, "b").has_value());
}

TEST_CASE("reply redelivery: the second delivery changes nothing", "[domain][reply][idempotency]") {
  const auto ctx = context_for(pipeline_stage::receive_status);
  SECTION("success") {
    const auto first = outcome_of(
        apply_store_status_reply(request_at(sent), success_reply(), false, active_job(), ctx, "b1"));
    REQUIRE(first.new_backup);
    const auto& after = std::get<applied>(first.request).request;
    const auto second =
        outcome_of(apply_store_status_reply(after, success_reply(), true, active_job(), ctx, "b2"));
    CHECK_FALSE(second.new_backup);
    CHECK(second.request == transition{already_done{succeeded}});
    CHECK(is_at_or_beyond(after.status_type_code, pipeline_stage::receive_status));
  }
  SECTION("failure") {
    const auto first = outcome_of(
        apply_store_status_reply(request_at(sent), failure_reply(), false, active_job(), ctx, "b1"));
    const auto& after = std::get<applied>(first.request).request;
    CHECK(after.status_type_code == failed);
    const auto second =
        outcome_of(apply_store_status_reply(after, failure_reply(), false, active_job(), ctx, "b2"));
    CHECK_FALSE(second.new_backup);
    CHECK(second.request == transition{already_done{failed}});
  }
  SECTION("failure, then a later success, then the failure again") {
    const auto failed_request =
        std::get<applied>(outcome_of(apply_store_status_reply(request_at(sent), failure_reply(), false,
                                                              active_job(), ctx, "b1"))
                              .request)
            .request;
    const auto healed =
        outcome_of(apply_store_status_reply(failed_request, success_reply(), false, active_job(), ctx, "b2"));
    REQUIRE(healed.new_backup);
    const auto& succeeded_request = std::get<applied>(healed.request).request;
    CHECK(succeeded_request.status_type_code == succeeded);
    const auto late_failure = outcome_of(
        apply_store_status_reply(succeeded_request, failure_reply(), true, active_job(), ctx, "b3"));
    CHECK_FALSE(late_failure.new_backup);
    CHECK(late_failure.request == transition{already_done{succeeded}});
  }
}
