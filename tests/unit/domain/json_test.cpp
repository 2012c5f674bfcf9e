// Wire JSON of entities and message payloads: exact shapes, round trips and parse errors.
#include "bkr/domain/json.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"

#include "domain_samples.hpp"

#include <catch2/catch.hpp>

using namespace bkr::domain;
using namespace bkr::domain::test;
using nlohmann::json;

namespace {

using enum request_status;

template <class T>
bkr::error error_of(const bkr::result<T>& r) {
  REQUIRE_FALSE(r.has_value());
  return r.error();
}

}  // namespace

TEST_CASE("a fresh Accepted request shows every field, unset ones as null", "[domain][json]") {
  const json j = request_at(accepted);
  const json expected = {
      {"backupRequestId", request_id},
      {"backupJobId", "job-nightly-42"},
      {"dataDate", "2026-02-03"},
      {"preparedDataPathName", "/prepared/2026-02-03/export.tar"},
      {"getOnStartFlag", true},
      {"transportTypeCode", "HTTP"},
      {"statusTypeCode", "Accepted"},
      {"requesterId", "client-a@clients"},
      {"backupProviderCode", nullptr},
      {"storagePathName", nullptr},
      {"acceptedTimestamp", "2026-02-03T10:00:00.001Z"},
      {"receivedTimestamp", nullptr},
      {"checkedTimestamp", nullptr},
      {"sentToInterfaceTimestamp", nullptr},
      {"replyTimestamp", nullptr},
      {"replyMessageText", nullptr},
  };
  CHECK(j == expected);
}

TEST_CASE("a finished request shows all its timestamps and the reply text", "[domain][json]") {
  const json j = request_at(failed);
  CHECK(j.at("statusTypeCode") == "Failed");
  CHECK(j.at("backupProviderCode") == "CloudA");
  CHECK(j.at("storagePathName") == "/vault/nightly");
  CHECK(j.at("receivedTimestamp") == "2026-02-03T10:00:01.002Z");
  CHECK(j.at("checkedTimestamp") == "2026-02-03T10:00:02.003Z");
  CHECK(j.at("sentToInterfaceTimestamp") == "2026-02-03T10:00:03.004Z");
  CHECK(j.at("replyTimestamp") == "2026-02-03T10:05:00.005Z");
  CHECK(j.at("replyMessageText") == "copy failed: disk full");
  CHECK(j.size() == 16);
}

TEST_CASE("requests at every status round-trip through JSON", "[domain][json]") {
  for (auto status : all_statuses) {
    INFO(to_string(status));
    const auto request = request_at(status);
    const auto parsed = parse_backup_request(json(request));
    REQUIRE(parsed.has_value());
    CHECK(*parsed == request);
  }
  auto queued = request_at(received);
  queued.transport_type_code = transport::queue;
  queued.get_on_start_flag = false;
  CHECK(parse_backup_request(json(queued)).value() == queued);
}

TEST_CASE("parse_backup_request validates every field", "[domain][json]") {
  const json good = request_at(sent);
  const auto message = [&](const std::string& key, json value) {
    json j = good;
    j[key] = std::move(value);
    return error_of(parse_backup_request(j)).message;
  };
  CHECK(error_of(parse_backup_request(json::array())).code == make_error_code(errc::invalid_json));
  CHECK(message("statusTypeCode", "Done") ==
        "statusTypeCode must be Accepted, Received, Allowed, NotAllowed, Sent, Succeeded or Failed");
  CHECK(message("backupProviderCode", "cloudA") == "backupProviderCode must be Local, CloudA or CloudB");
  CHECK(message("transportTypeCode", "http") == "transportTypeCode must be HTTP or Queue");
  CHECK(message("dataDate", "2026-02-30") == "dataDate must be a real calendar date in the form YYYY-MM-DD");
  CHECK(message("checkedTimestamp", "soon") ==
        "checkedTimestamp must be an RFC 3339 timestamp such as 2026-11-22T10:15:30.123Z");
  CHECK(message("getOnStartFlag", "true") == "getOnStartFlag must be a boolean");
  CHECK(message("requesterId", nullptr) == "requesterId is required");
}

TEST_CASE("history entries in JSON", "[domain][json]") {
  const history_entry h{
      .backup_request_id = request_id,
      .from_status = received,
      .to_status = not_allowed,
      .at = at("2026-02-03T11:00:00.500Z"),
      .stage = "check-allowed",
      .message_id = "m-9",
      .reason = "JobNotFound",
  };
  const json expected = {
      {"backupRequestId", request_id},    {"fromStatus", "Received"}, {"toStatus", "NotAllowed"},
      {"at", "2026-02-03T11:00:00.500Z"}, {"stage", "check-allowed"}, {"messageId", "m-9"},
      {"reason", "JobNotFound"},
  };
  CHECK(json(h) == expected);

  history_entry first = h;
  first.from_status.reset();
  first.reason.reset();
  CHECK(json(first).at("fromStatus").is_null());
  CHECK(json(first).at("reason").is_null());
}

TEST_CASE("backup jobs in JSON and back", "[domain][json][job]") {
  auto job = active_job();
  job.hold_flag = true;
  const json expected = {
      {"backupJobId", "job-nightly-42"},
      {"storagePathName", "/vault/nightly"},
      {"backupProviderCode", "CloudA"},
      {"daysToKeep", 30},
      {"isActive", true},
      {"holdFlag", true},
  };
  CHECK(json(job) == expected);
  CHECK(parse_backup_job(expected).value() == job);

  auto with_extra = expected;
  with_extra["owner"] = "team-x";
  CHECK(parse_backup_job(with_extra).value() == job);
}

TEST_CASE("backup job parse errors name the field", "[domain][json][job]") {
  const json good = active_job();
  const auto message = [&](const std::string& key, json value) {
    json j = good;
    if (value.is_discarded()) {
      j.erase(key);
    } else {
      j[key] = std::move(value);
    }
    return error_of(parse_backup_job(j)).message;
  };
  const json absent = json::value_t::discarded;
  CHECK(message("daysToKeep", absent) == "daysToKeep is required");
  CHECK(message("daysToKeep", -1) == "daysToKeep must be an integer from 0 to 2147483647");
  CHECK(message("daysToKeep", 2147483648LL) == "daysToKeep must be an integer from 0 to 2147483647");
  CHECK(message("daysToKeep", 3.5) == "daysToKeep must be an integer from 0 to 2147483647");
  CHECK(message("isActive", "true") == "isActive must be a boolean");
  CHECK(message("holdFlag", absent) == "holdFlag is required");
  CHECK(message("backupProviderCode", "") == "backupProviderCode must be Local, CloudA or CloudB");
  CHECK(message("storagePathName", "") == "storagePathName must not be empty");
  CHECK(message("backupJobId", "a b") ==
        "backupJobId must contain only printable ASCII characters, without whitespace");
  CHECK(parse_backup_job(json("job")).error().code == make_error_code(errc::invalid_json));
  CHECK(parse_backup_job([&] {
          json j = good;
          j["daysToKeep"] = 0;
          return j;
        }())
            .value()
            .days_to_keep == 0);
}

TEST_CASE("backups in JSON", "[domain][json]") {
  backup b;
  b.backup_id = "backup-1";
  b.backup_request_id = request_id;
  b.backup_job_id = "job-nightly-42";
  b.data_date = ymd(2026, 2, 3);
  b.storage_path_name = "/vault/x";
  b.backup_provider_code = provider::cloud_b;
  b.days_to_keep_count = 30;
  b.hold_flag = false;
  b.backup_byte_count = 9007199254740993;  // above 2^53: must stay exact
  b.copy_start_timestamp = at("2026-02-03T10:01:00.000Z");
  b.copy_end_timestamp = at("2026-02-03T10:04:00.000Z");
  b.verify_hash_text = "h";
  b.due_to_delete_date = ymd(2026, 3, 5);
  const json expected = {
      {"backupId", "backup-1"},
      {"backupRequestId", request_id},
      {"backupJobId", "job-nightly-42"},
      {"dataDate", "2026-02-03"},
      {"storagePathName", "/vault/x"},
      {"backupProviderCode", "CloudB"},
      {"daysToKeepCount", 30},
      {"holdFlag", false},
      {"backupByteCount", 9007199254740993},
      {"copyStartTimestamp", "2026-02-03T10:01:00.000Z"},
      {"copyEndTimestamp", "2026-02-03T10:04:00.000Z"},
      {"verifyStartTimestamp", nullptr},
      {"verifyEndTimestamp", nullptr},
      {"verifyHashText", "h"},
      {"dueToDeleteDate", "2026-03-05"},
      {"deletedTimestamp", nullptr},
  };
  CHECK(json(b) == expected);
  CHECK(json(b).dump().find("9007199254740993") != std::string::npos);
}

TEST_CASE("the 202 body is the accepted request's public data", "[domain][json][accepted]") {
  const auto request = make_accepted_request(accept_input{"job-1", ymd(2026, 2, 3), "/prepared/x"},
                                             "0190c2f1-7a3b-7c4d-8e5f-000000000001", "client@clients",
                                             at("2026-02-03T09:00:00.123Z"))
                           .value();
  const json expected = {
      {"backupRequestId", "0190c2f1-7a3b-7c4d-8e5f-000000000001"},
      {"backupJobId", "job-1"},
      {"dataDate", "2026-02-03"},
      {"preparedDataPathName", "/prepared/x"},
      {"getOnStartFlag", true},
      {"transportTypeCode", "HTTP"},
      {"statusTypeCode", "Accepted"},
      {"acceptedTimestamp", "2026-02-03T09:00:00.123Z"},
      {"requesterId", "client@clients"},
  };
  CHECK(accepted_response_body(request) == expected);
  CHECK(json(to_accepted_payload(request)) == expected);
}

TEST_CASE("the accepted payload round-trips and rebuilds the Accepted request", "[domain][json][accepted]") {
  const auto request = request_at(accepted);
  const auto payload = to_accepted_payload(request);
  const auto parsed = parse_accepted_payload(json(payload));
  REQUIRE(parsed.has_value());
  CHECK(*parsed == payload);
  CHECK(to_backup_request(*parsed) == request);
}

TEST_CASE("accepted payload parse errors", "[domain][json][accepted]") {
  const json good = to_accepted_payload(request_at(accepted));
  const auto message = [&](const std::string& key, json value) {
    json j = good;
    j[key] = std::move(value);
    return error_of(parse_accepted_payload(j)).message;
  };
  CHECK(message("statusTypeCode", "Received") == "statusTypeCode must be Accepted");
  CHECK(message("statusTypeCode", nullptr) == "statusTypeCode is required");
  CHECK(message("acceptedTimestamp", nullptr) == "acceptedTimestamp is required");
  CHECK(message("acceptedTimestamp", "2026-02-03") ==
        "acceptedTimestamp must be an RFC 3339 timestamp such as 2026-11-22T10:15:30.123Z");
  CHECK(message("preparedDataPathName", std::string(251, 'p')) ==
        "preparedDataPathName must be at most 250 characters");
  CHECK(message("backupRequestId", "") == "backupRequestId must not be empty");
  CHECK(message("requesterId", "") == "requesterId must not be empty");
  CHECK(message("transportTypeCode", "SMTP") == "transportTypeCode must be HTTP or Queue");
  CHECK(message("getOnStartFlag", 1) == "getOnStartFlag must be a boolean");
  CHECK(parse_accepted_payload(json::array()).error().code == make_error_code(errc::invalid_json));
}

TEST_CASE("received and allowed payloads carry only the id", "[domain][json][payload]") {
  const received_payload received_p{request_id};
  const allowed_payload allowed_p{request_id};
  CHECK(json(received_p) == json{{"backupRequestId", request_id}});
  CHECK(json(allowed_p) == json{{"backupRequestId", request_id}});
  CHECK(parse_received_payload(json(received_p)).value() == received_p);
  CHECK(parse_allowed_payload(json(allowed_p)).value() == allowed_p);

  CHECK(parse_received_payload(json::object()).error().message == "backupRequestId is required");
  CHECK(parse_allowed_payload(json{{"backupRequestId", ""}}).error().message ==
        "backupRequestId must not be empty");
  CHECK(parse_allowed_payload(json{{"backupRequestId", 5}}).error().message ==
        "backupRequestId must be a string");
  CHECK(parse_received_payload(json("x")).error().code == make_error_code(errc::invalid_json));
}

TEST_CASE("the store request is built from an allowed request", "[domain][json][store-request]") {
  const auto p = make_store_request(request_at(allowed)).value();
  const json expected = {
      {"apiVersion", "2022-08-15"},
      {"backupRequestId", request_id},
      {"backupJobId", "job-nightly-42"},
      {"dataDate", "2026-02-03"},
      {"preparedDataPathName", "/prepared/2026-02-03/export.tar"},
      {"backupProviderCode", "CloudA"},
      {"storagePathName", "/vault/nightly"},
  };
  CHECK(json(p) == expected);
  CHECK(parse_store_request(expected).value() == p);

  for (auto status : {accepted, received, not_allowed}) {
    INFO(to_string(status));
    CHECK(make_store_request(request_at(status)).error().code == make_error_code(errc::invalid_transition));
  }
  json no_provider = expected;
  no_provider.erase("backupProviderCode");
  CHECK(parse_store_request(no_provider).error().message == "backupProviderCode is required");
  json bad_version = expected;
  bad_version["apiVersion"] = "latest";
  CHECK(parse_store_request(bad_version).error().message ==
        "apiVersion must be a real calendar date in the form YYYY-MM-DD");
}

TEST_CASE("store status replies round-trip, unset optional fields are omitted", "[domain][json][reply]") {
  const json full = success_reply();
  CHECK(full.size() == 11);
  CHECK(full.at("backupByteCount") == 123456789);
  CHECK(full.at("copyStartTimestamp") == "2026-02-03T10:01:00.000Z");
  CHECK(parse_store_status_reply(full).value() == success_reply());

  const json minimal = failure_reply();
  CHECK(minimal == json{{"apiVersion", "2022-08-15"},
                        {"backupRequestId", request_id},
                        {"resultTypeCode", "Failed"},
                        {"messageText", "source path not found"}});
  CHECK(parse_store_status_reply(minimal).value() == failure_reply());
}

TEST_CASE("queues and message types of the payload contracts", "[domain][json][contracts]") {
  CHECK(accepted_message.queue == "backup-request.accepted");
  CHECK(received_message.queue == "backup-request.received");
  CHECK(allowed_message.queue == "backup-request.allowed");
  CHECK(store_status_message.queue == "backup-interface.store-status");
  CHECK(store_request_queue(provider::local) == "backup-interface.local.store-request");
  CHECK(store_request_queue(provider::cloud_a) == "backup-interface.cloud-a.store-request");
  CHECK(store_request_queue(provider::cloud_b) == "backup-interface.cloud-b.store-request");
  CHECK(accepted_message.type == "BackupRequestAccepted");
  CHECK(received_message.type == "BackupRequestReceived");
  CHECK(allowed_message.type == "BackupRequestAllowed");
}
