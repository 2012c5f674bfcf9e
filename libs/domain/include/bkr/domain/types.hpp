// The domain's value types: backup requests and their statuses, jobs, backups, store status replies.
#pragma once

#include "bkr/common/clock.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::domain {

/// DOMAIN.md status machine: Accepted -> Received -> Allowed | NotAllowed; Allowed -> Sent -> Succeeded |
/// Failed; Failed -> Succeeded on a later success reply.
enum class request_status { accepted, received, allowed, not_allowed, sent, succeeded, failed };
enum class provider { local, cloud_a, cloud_b };
enum class transport { http, queue };
enum class store_result { succeeded, failed };

/// Wire names: "Accepted", "NotAllowed", "CloudA", "HTTP", "Succeeded", ...
std::string_view to_string(request_status s);
std::string_view to_string(provider p);
std::string_view to_string(transport t);
std::string_view to_string(store_result r);
std::optional<request_status> parse_request_status(std::string_view text);
std::optional<provider> parse_provider(std::string_view text);
std::optional<transport> parse_transport(std::string_view text);
std::optional<store_result> parse_store_result(std::string_view text);

/// A calendar date (dataDate, dueToDeleteDate); always a valid date when held by a domain object.
using date = std::chrono::year_month_day;

/// `YYYY-MM-DD`.
std::string format_date(date d);

struct backup_request {
  std::string backup_request_id;
  std::string backup_job_id;
  date data_date;
  std::string prepared_data_path_name;
  bool get_on_start_flag = true;
  transport transport_type_code = transport::http;
  request_status status_type_code = request_status::accepted;
  std::string requester_id;
  std::optional<provider> backup_provider_code;  // set on Allowed
  std::optional<std::string> storage_path_name;  // set on Allowed
  std::optional<timestamp> accepted_timestamp;
  std::optional<timestamp> received_timestamp;
  std::optional<timestamp> checked_timestamp;
  std::optional<timestamp> sent_to_interface_timestamp;
  std::optional<timestamp> reply_timestamp;
  std::optional<std::string> reply_message_text;

  friend bool operator==(const backup_request&, const backup_request&) = default;
};

/// One row of the append-only history: the proof that a transition happened, and when, where, why.
struct history_entry {
  std::string backup_request_id;
  std::optional<request_status> from_status;  // nullopt for the first status a stage records
  request_status to_status;
  timestamp at;
  std::string stage;                  // e.g. "create-request"
  std::string message_id;             // the consumed message that caused it; empty when none
  std::optional<std::string> reason;  // e.g. "JobNotFound", "JobInactive"

  friend bool operator==(const history_entry&, const history_entry&) = default;
};

struct backup_job {
  std::string backup_job_id;
  std::string storage_path_name;
  provider backup_provider_code = provider::local;
  int days_to_keep = 0;
  bool is_active = false;
  bool hold_flag = false;

  friend bool operator==(const backup_job&, const backup_job&) = default;
};

struct backup {
  std::string backup_id;
  std::string backup_request_id;
  std::string backup_job_id;
  date data_date;
  std::string storage_path_name;
  provider backup_provider_code = provider::local;
  int days_to_keep_count = 0;
  bool hold_flag = false;
  std::int64_t backup_byte_count = 0;
  timestamp copy_start_timestamp;
  timestamp copy_end_timestamp;
  std::optional<timestamp> verify_start_timestamp;
  std::optional<timestamp> verify_end_timestamp;
  std::optional<std::string> verify_hash_text;
  date due_to_delete_date;
  std::optional<timestamp> deleted_timestamp;

  friend bool operator==(const backup&, const backup&) = default;
};

struct store_status_reply {
  std::string api_version;
  std::string backup_request_id;
  store_result result_type_code = store_result::failed;
  std::optional<std::string> storage_path_name;
  std::optional<std::int64_t> backup_byte_count;
  std::optional<timestamp> copy_start_timestamp;
  std::optional<timestamp> copy_end_timestamp;
  std::optional<timestamp> verify_start_timestamp;
  std::optional<timestamp> verify_end_timestamp;
  std::optional<std::string> verified_hash;
  std::optional<std::string> message_text;

  friend bool operator==(const store_status_reply&, const store_status_reply&) = default;
};

/// Authorization scopes (client_authorization).
inline constexpr std::string_view scope_post_backup_request = "post-backup-request";
inline constexpr std::string_view scope_get_backup_request = "get-backup-request";
inline constexpr std::string_view scope_post_store_status = "post-store-status";
inline constexpr std::string_view scope_admin = "admin";

}  // namespace bkr::domain
