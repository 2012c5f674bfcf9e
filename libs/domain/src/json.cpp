// Entity views to and from wire JSON, and the 202 body of an accepted request.
#include "bkr/domain/json.hpp"

#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"
#include "json_fields.hpp"

#include <limits>

namespace bkr::domain {
namespace {

using detail::optional_json;

nlohmann::json name_json(std::string_view name) {
  return std::string(name);
}

template <class Enum>
nlohmann::json optional_name_json(const std::optional<Enum>& value) {
  return value ? name_json(to_string(*value)) : nlohmann::json(nullptr);
}

constexpr std::string_view status_choices =
    "Accepted, Received, Allowed, NotAllowed, Sent, Succeeded or Failed";
constexpr std::string_view provider_choices = "Local, CloudA or CloudB";
constexpr std::string_view transport_choices = "HTTP or Queue";

}  // namespace

void to_json(nlohmann::json& j, const backup_request& r) {
  j = nlohmann::json{
      {"backupRequestId", r.backup_request_id},
      {"backupJobId", r.backup_job_id},
      {"dataDate", format_date(r.data_date)},
      {"preparedDataPathName", r.prepared_data_path_name},
      {"getOnStartFlag", r.get_on_start_flag},
      {"transportTypeCode", name_json(to_string(r.transport_type_code))},
      {"statusTypeCode", name_json(to_string(r.status_type_code))},
      {"requesterId", r.requester_id},
      {"backupProviderCode", optional_name_json(r.backup_provider_code)},
      {"storagePathName", optional_json(r.storage_path_name)},
      {"acceptedTimestamp", optional_json(r.accepted_timestamp)},
      {"receivedTimestamp", optional_json(r.received_timestamp)},
      {"checkedTimestamp", optional_json(r.checked_timestamp)},
      {"sentToInterfaceTimestamp", optional_json(r.sent_to_interface_timestamp)},
      {"replyTimestamp", optional_json(r.reply_timestamp)},
      {"replyMessageText", optional_json(r.reply_message_text)},
  };
}

void to_json(nlohmann::json& j, const history_entry& h) {
  j = nlohmann::json{
      {"backupRequestId", h.backup_request_id},
      {"fromStatus", optional_name_json(h.from_status)},
      {"toStatus", name_json(to_string(h.to_status))},
      {"at", format_timestamp(h.at)},
      {"stage", h.stage},
      {"messageId", h.message_id},
      {"reason", optional_json(h.reason)},
  };
}

void to_json(nlohmann::json& j, const backup_job& job) {
  j = nlohmann::json{
      {"backupJobId", job.backup_job_id},
      {"storagePathName", job.storage_path_name},
      {"backupProviderCode", name_json(to_string(job.backup_provider_code))},
      {"daysToKeep", job.days_to_keep},
      {"isActive", job.is_active},
      {"holdFlag", job.hold_flag},
  };
}

void to_json(nlohmann::json& j, const backup& b) {
  j = nlohmann::json{
      {"backupId", b.backup_id},
      {"backupRequestId", b.backup_request_id},
      {"backupJobId", b.backup_job_id},
      {"dataDate", format_date(b.data_date)},
      {"storagePathName", b.storage_path_name},
      {"backupProviderCode", name_json(to_string(b.backup_provider_code))},
      {"daysToKeepCount", b.days_to_keep_count},
      {"holdFlag", b.hold_flag},
      {"backupByteCount", b.backup_byte_count},
      {"copyStartTimestamp", format_timestamp(b.copy_start_timestamp)},
      {"copyEndTimestamp", format_timestamp(b.copy_end_timestamp)},
      {"verifyStartTimestamp", optional_json(b.verify_start_timestamp)},
      {"verifyEndTimestamp", optional_json(b.verify_end_timestamp)},
      {"verifyHashText", optional_json(b.verify_hash_text)},
      {"dueToDeleteDate", format_date(b.due_to_delete_date)},
      {"deletedTimestamp", optional_json(b.deleted_timestamp)},
  };
}

result<backup_request> parse_backup_request(const nlohmann::json& j) {
  using namespace detail;
  if (auto ok = require_object(j, "backup request"); !ok)
    return ok.error();
  backup_request r;
  field_collector f;
  f.take(required_id(j, "backupRequestId"), r.backup_request_id);
  f.take(required_id(j, "backupJobId"), r.backup_job_id);
  f.take(required_date(j, "dataDate"), r.data_date);
  f.take(required_text(j, "preparedDataPathName", 1, max_path_length), r.prepared_data_path_name);
  f.take(required_bool(j, "getOnStartFlag"), r.get_on_start_flag);
  f.take(required_enum<transport>(j, "transportTypeCode", parse_transport, transport_choices),
         r.transport_type_code);
  f.take(required_enum<request_status>(j, "statusTypeCode", parse_request_status, status_choices),
         r.status_type_code);
  f.take(required_text(j, "requesterId", 1, max_requester_id_length), r.requester_id);
  f.take(optional_enum<provider>(j, "backupProviderCode", parse_provider, provider_choices),
         r.backup_provider_code);
  f.take(optional_text(j, "storagePathName", 1, max_path_length), r.storage_path_name);
  f.take(optional_timestamp(j, "acceptedTimestamp"), r.accepted_timestamp);
  f.take(optional_timestamp(j, "receivedTimestamp"), r.received_timestamp);
  f.take(optional_timestamp(j, "checkedTimestamp"), r.checked_timestamp);
  f.take(optional_timestamp(j, "sentToInterfaceTimestamp"), r.sent_to_interface_timestamp);
  f.take(optional_timestamp(j, "replyTimestamp"), r.reply_timestamp);
  f.take(optional_text(j, "replyMessageText", 0, max_message_text_length, text_kind::multi_line),
         r.reply_message_text);
  if (!f.ok())
    return f.error();
  return r;
}

result<backup_job> parse_backup_job(const nlohmann::json& j) {
  using namespace detail;
  if (auto ok = require_object(j, "backup job"); !ok)
    return ok.error();
  backup_job job;
  std::int64_t days_to_keep = 0;
  field_collector f;
  f.take(required_id(j, "backupJobId"), job.backup_job_id);
  f.take(required_text(j, "storagePathName", 1, max_path_length), job.storage_path_name);
  f.take(required_enum<provider>(j, "backupProviderCode", parse_provider, provider_choices),
         job.backup_provider_code);
  f.take(required_integer(j, "daysToKeep", 0, std::numeric_limits<int>::max()), days_to_keep);
  f.take(required_bool(j, "isActive"), job.is_active);
  f.take(required_bool(j, "holdFlag"), job.hold_flag);
  if (!f.ok())
    return f.error();
  job.days_to_keep = static_cast<int>(days_to_keep);
  return job;
}

nlohmann::json accepted_response_body(const backup_request& request) {
  return nlohmann::json(to_accepted_payload(request));
}

}  // namespace bkr::domain
