// Message payloads: building them from requests, their wire JSON, and their validated parsing.
#include "bkr/domain/messages.hpp"

#include "bkr/domain/errors.hpp"
#include "bkr/domain/validation.hpp"
#include "json_fields.hpp"

#include <cassert>
#include <limits>

namespace bkr::domain {
namespace {

constexpr std::string_view provider_choices = "Local, CloudA or CloudB";
constexpr std::string_view transport_choices = "HTTP or Queue";
constexpr std::string_view result_choices = "Succeeded or Failed";

std::optional<request_status> parse_accepted_status(std::string_view text) {
  if (text == to_string(request_status::accepted))
    return request_status::accepted;
  return std::nullopt;
}

void put_optional(nlohmann::json& j, const char* name, const std::optional<std::string>& value) {
  if (value)
    j[name] = *value;
}

void put_optional(nlohmann::json& j, const char* name, const std::optional<timestamp>& value) {
  if (value)
    j[name] = format_timestamp(*value);
}

}  // namespace

std::string store_request_queue(provider p) {
  switch (p) {
    case provider::local:
      return "backup-interface.local.store-request";
    case provider::cloud_a:
      return "backup-interface.cloud-a.store-request";
    case provider::cloud_b:
      return "backup-interface.cloud-b.store-request";
  }
  return "backup-interface.unknown.store-request";
}

accepted_payload to_accepted_payload(const backup_request& request) {
  assert(request.status_type_code == request_status::accepted && request.accepted_timestamp);
  return accepted_payload{
      .backup_request_id = request.backup_request_id,
      .backup_job_id = request.backup_job_id,
      .data_date = request.data_date,
      .prepared_data_path_name = request.prepared_data_path_name,
      .get_on_start_flag = request.get_on_start_flag,
      .transport_type_code = request.transport_type_code,
      .accepted_timestamp = request.accepted_timestamp.value_or(timestamp{}),
      .requester_id = request.requester_id,
  };
}

backup_request to_backup_request(const accepted_payload& payload) {
  backup_request request;
  request.backup_request_id = payload.backup_request_id;
  request.backup_job_id = payload.backup_job_id;
  request.data_date = payload.data_date;
  request.prepared_data_path_name = payload.prepared_data_path_name;
  request.get_on_start_flag = payload.get_on_start_flag;
  request.transport_type_code = payload.transport_type_code;
  request.status_type_code = request_status::accepted;
  request.requester_id = payload.requester_id;
  request.accepted_timestamp = payload.accepted_timestamp;
  return request;
}

void to_json(nlohmann::json& j, const accepted_payload& p) {
  j = nlohmann::json{
      {"backupRequestId", p.backup_request_id},
      {"backupJobId", p.backup_job_id},
      {"dataDate", format_date(p.data_date)},
      {"preparedDataPathName", p.prepared_data_path_name},
      {"getOnStartFlag", p.get_on_start_flag},
      {"transportTypeCode", std::string(to_string(p.transport_type_code))},
      {"statusTypeCode", std::string(to_string(request_status::accepted))},
      {"acceptedTimestamp", format_timestamp(p.accepted_timestamp)},
      {"requesterId", p.requester_id},
  };
}

result<accepted_payload> parse_accepted_payload(const nlohmann::json& j) {
  using namespace detail;
  if (auto ok = require_object(j, "backup-request.accepted payload"); !ok)
    return ok.error();
  accepted_payload p;
  request_status status = request_status::accepted;
  field_collector f;
  f.take(required_id(j, "backupRequestId"), p.backup_request_id);
  f.take(required_id(j, "backupJobId"), p.backup_job_id);
  f.take(required_date(j, "dataDate"), p.data_date);
  f.take(required_text(j, "preparedDataPathName", 1, max_path_length), p.prepared_data_path_name);
  f.take(required_bool(j, "getOnStartFlag"), p.get_on_start_flag);
  f.take(required_enum<transport>(j, "transportTypeCode", parse_transport, transport_choices),
         p.transport_type_code);
  f.take(required_enum<request_status>(j, "statusTypeCode", parse_accepted_status, "Accepted"), status);
  f.take(required_timestamp(j, "acceptedTimestamp"), p.accepted_timestamp);
  f.take(required_text(j, "requesterId", 1, max_requester_id_length), p.requester_id);
  if (!f.ok())
    return f.error();
  return p;
}

void to_json(nlohmann::json& j, const received_payload& p) {
  j = nlohmann::json{{"backupRequestId", p.backup_request_id}};
}

result<received_payload> parse_received_payload(const nlohmann::json& j) {
  if (auto ok = detail::require_object(j, "backup-request.received payload"); !ok)
    return ok.error();
  auto id = detail::required_id(j, "backupRequestId");
  if (!id)
    return id.error();
  return received_payload{std::move(*id)};
}

void to_json(nlohmann::json& j, const allowed_payload& p) {
  j = nlohmann::json{{"backupRequestId", p.backup_request_id}};
}

result<allowed_payload> parse_allowed_payload(const nlohmann::json& j) {
  if (auto ok = detail::require_object(j, "backup-request.allowed payload"); !ok)
    return ok.error();
  auto id = detail::required_id(j, "backupRequestId");
  if (!id)
    return id.error();
  return allowed_payload{std::move(*id)};
}

result<store_request> make_store_request(const backup_request& request) {
  if (!request.backup_provider_code || !request.storage_path_name) {
    return make_error(errc::invalid_transition,
                      "backup request " + request.backup_request_id + " is " +
                          std::string(to_string(request.status_type_code)) +
                          " without backupProviderCode and storagePathName; only an allowed request is sent");
  }
  return store_request{
      .api_version = std::string(store_request_api_version),
      .backup_request_id = request.backup_request_id,
      .backup_job_id = request.backup_job_id,
      .data_date = request.data_date,
      .prepared_data_path_name = request.prepared_data_path_name,
      .backup_provider_code = *request.backup_provider_code,
      .storage_path_name = *request.storage_path_name,
  };
}

void to_json(nlohmann::json& j, const store_request& p) {
  j = nlohmann::json{
      {"apiVersion", p.api_version},
      {"backupRequestId", p.backup_request_id},
      {"backupJobId", p.backup_job_id},
      {"dataDate", format_date(p.data_date)},
      {"preparedDataPathName", p.prepared_data_path_name},
      {"backupProviderCode", std::string(to_string(p.backup_provider_code))},
      {"storagePathName", p.storage_path_name},
  };
}

result<store_request> parse_store_request(const nlohmann::json& j) {
  using namespace detail;
  if (auto ok = require_object(j, "store request"); !ok)
    return ok.error();
  store_request p;
  date api_version{};
  field_collector f;
  f.take(required_date(j, "apiVersion"), api_version);
  f.take(required_id(j, "backupRequestId"), p.backup_request_id);
  f.take(required_id(j, "backupJobId"), p.backup_job_id);
  f.take(required_date(j, "dataDate"), p.data_date);
  f.take(required_text(j, "preparedDataPathName", 1, max_path_length), p.prepared_data_path_name);
  f.take(required_enum<provider>(j, "backupProviderCode", parse_provider, provider_choices),
         p.backup_provider_code);
  f.take(required_text(j, "storagePathName", 1, max_path_length), p.storage_path_name);
  if (!f.ok())
    return f.error();
  p.api_version = format_date(api_version);
  return p;
}

void to_json(nlohmann::json& j, const store_status_reply& r) {
  j = nlohmann::json{
      {"apiVersion", r.api_version},
      {"backupRequestId", r.backup_request_id},
      {"resultTypeCode", std::string(to_string(r.result_type_code))},
  };
  put_optional(j, "storagePathName", r.storage_path_name);
  if (r.backup_byte_count)
    j["backupByteCount"] = *r.backup_byte_count;
  put_optional(j, "copyStartTimestamp", r.copy_start_timestamp);
  put_optional(j, "copyEndTimestamp", r.copy_end_timestamp);
  put_optional(j, "verifyStartTimestamp", r.verify_start_timestamp);
  put_optional(j, "verifyEndTimestamp", r.verify_end_timestamp);
  put_optional(j, "verifiedHash", r.verified_hash);
  put_optional(j, "messageText", r.message_text);
}

result<store_status_reply> parse_store_status_reply(const nlohmann::json& j) {
  using namespace detail;
  if (auto ok = require_object(j, "store status reply"); !ok)
    return ok.error();
  store_status_reply r;
  date api_version{};
  field_collector f;
  f.take(required_date(j, "apiVersion"), api_version);
  f.take(required_id(j, "backupRequestId"), r.backup_request_id);
  f.take(required_enum<store_result>(j, "resultTypeCode", parse_store_result, result_choices),
         r.result_type_code);
  f.take(optional_text(j, "storagePathName", 1, max_path_length), r.storage_path_name);
  f.take(optional_integer(j, "backupByteCount", 0, std::numeric_limits<std::int64_t>::max()),
         r.backup_byte_count);
  f.take(optional_timestamp(j, "copyStartTimestamp"), r.copy_start_timestamp);
  f.take(optional_timestamp(j, "copyEndTimestamp"), r.copy_end_timestamp);
  f.take(optional_timestamp(j, "verifyStartTimestamp"), r.verify_start_timestamp);
  f.take(optional_timestamp(j, "verifyEndTimestamp"), r.verify_end_timestamp);
  f.take(optional_text(j, "verifiedHash", 0, max_message_text_length), r.verified_hash);
  f.take(optional_text(j, "messageText", 0, max_message_text_length, text_kind::multi_line), r.message_text);
  if (f.ok() && r.result_type_code == store_result::succeeded) {
    // The order of the checks is the order of the fields on the wire, so the first missing one is reported.
    f.require(r.storage_path_name.has_value(),
              "storagePathName is required when resultTypeCode is Succeeded");
    f.require(r.backup_byte_count.has_value(),
              "backupByteCount is required when resultTypeCode is Succeeded");
    f.require(r.copy_start_timestamp.has_value(),
              "copyStartTimestamp is required when resultTypeCode is Succeeded");
    f.require(r.copy_end_timestamp.has_value(),
              "copyEndTimestamp is required when resultTypeCode is Succeeded");
  }
  if (r.copy_start_timestamp && r.copy_end_timestamp) {
    f.require(*r.copy_end_timestamp >= *r.copy_start_timestamp,
              "copyEndTimestamp must not be before copyStartTimestamp");
  }
  if (r.verify_start_timestamp && r.verify_end_timestamp) {
    f.require(*r.verify_end_timestamp >= *r.verify_start_timestamp,
              "verifyEndTimestamp must not be before verifyStartTimestamp");
  }
  if (!f.ok())
    return f.error();
  r.api_version = format_date(api_version);
  return r;
}

result<store_status_reply> parse_store_status_reply_text(std::string_view text) {
  const auto json = detail::parse_json_object(text, "store status reply");
  if (!json)
    return json.error();
  return parse_store_status_reply(*json);
}

}  // namespace bkr::domain
