// Queue message payloads between the stages and with the backup interfaces: structs, JSON, validated parsing.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace bkr::domain {

/// Queues (ARCHITECTURE.md), envelope `type` names and payload schema versions. Each payload's JSON Schema is
/// proto/messages/<schema_file>.
struct message_contract {
  std::string_view queue;  ///< empty for the store request: its queue depends on the provider
  std::string_view type;
  int schema_version;
  std::string_view schema_file;
};
inline constexpr message_contract accepted_message{"backup-request.accepted", "BackupRequestAccepted", 1,
                                                   "backup-request.accepted.v1.schema.json"};
inline constexpr message_contract received_message{"backup-request.received", "BackupRequestReceived", 1,
                                                   "backup-request.received.v1.schema.json"};
inline constexpr message_contract allowed_message{"backup-request.allowed", "BackupRequestAllowed", 1,
                                                  "backup-request.allowed.v1.schema.json"};
inline constexpr message_contract store_request_message{"", "StoreRequest", 1,
                                                        "backup-interface.store-request.v1.schema.json"};
inline constexpr message_contract store_status_message{"backup-interface.store-status", "StoreStatusReply", 1,
                                                       "backup-interface.store-status.v1.schema.json"};

/// `backup-interface.<provider>.store-request` with the provider in lower kebab case: local, cloud-a,
/// cloud-b.
std::string store_request_queue(provider p);

/// The apiVersion we put on store requests to the interfaces.
inline constexpr std::string_view store_request_api_version = "2022-08-15";

// Parsing rules shared by every parse_* below: the value must be a JSON object (invalid_json otherwise); a
// required field that is absent or null -> bad_data "<field> is required"; a wrong JSON type or a value
// breaking its rule -> bad_data naming the field; unknown fields are ignored; optional fields that are absent
// or null are unset. to_json omits unset optional fields.

/// backup-request.accepted: all the data of the Accepted request, since nothing is stored yet when it is
/// published. Wire: {backupRequestId, backupJobId, dataDate, preparedDataPathName, getOnStartFlag,
/// transportTypeCode, statusTypeCode:"Accepted", acceptedTimestamp, requesterId} (identical to the 202 body).
struct accepted_payload {
  std::string backup_request_id;
  std::string backup_job_id;
  date data_date;
  std::string prepared_data_path_name;
  bool get_on_start_flag = true;
  transport transport_type_code = transport::http;
  timestamp accepted_timestamp;
  std::string requester_id;

  friend bool operator==(const accepted_payload&, const accepted_payload&) = default;
};
/// `request` must be Accepted with an acceptedTimestamp (asserted).
accepted_payload to_accepted_payload(const backup_request& request);
/// The Accepted request the payload describes (the input of `receive`).
backup_request to_backup_request(const accepted_payload& payload);
void to_json(nlohmann::json& j, const accepted_payload& p);
result<accepted_payload> parse_accepted_payload(const nlohmann::json& j);

/// backup-request.received: {backupRequestId}. After persistence messages carry only the id; consumers
/// read the request.
struct received_payload {
  std::string backup_request_id;

  friend bool operator==(const received_payload&, const received_payload&) = default;
};
void to_json(nlohmann::json& j, const received_payload& p);
result<received_payload> parse_received_payload(const nlohmann::json& j);

/// backup-request.allowed: {backupRequestId}.
struct allowed_payload {
  std::string backup_request_id;

  friend bool operator==(const allowed_payload&, const allowed_payload&) = default;
};
void to_json(nlohmann::json& j, const allowed_payload& p);
result<allowed_payload> parse_allowed_payload(const nlohmann::json& j);

/// To the provider's interface (DOMAIN.md "Store request"): {apiVersion, backupRequestId, backupJobId,
/// dataDate, preparedDataPathName, backupProviderCode, storagePathName}; keyed by backupRequestId so the
/// interface can de-duplicate.
struct store_request {
  std::string api_version{store_request_api_version};
  std::string backup_request_id;
  std::string backup_job_id;
  date data_date;
  std::string prepared_data_path_name;
  provider backup_provider_code = provider::local;
  std::string storage_path_name;

  friend bool operator==(const store_request&, const store_request&) = default;
};
/// invalid_transition when the request has no backupProviderCode or storagePathName (it was never allowed).
result<store_request> make_store_request(const backup_request& request);
void to_json(nlohmann::json& j, const store_request& p);
result<store_request> parse_store_request(const nlohmann::json& j);

/// The store status reply from an interface (DOMAIN.md "Store status reply"):
///   apiVersion: YYYY-MM-DD, a real date (any version); backupRequestId: 1..50 printable ASCII;
///   resultTypeCode: Succeeded | Failed;
///   storagePathName (1..250), backupByteCount (integer 0..2^63-1), copyStartTimestamp, copyEndTimestamp
///   (RFC 3339): required when Succeeded; copyEndTimestamp >= copyStartTimestamp;
///   verifyStartTimestamp, verifyEndTimestamp (RFC 3339, end >= start when both), verifiedHash (0..250,
///   single line), messageText (0..250, may span lines): optional.
/// Fields given on a Failed reply are checked by the same rules.
void to_json(nlohmann::json& j, const store_status_reply& r);
result<store_status_reply> parse_store_status_reply(const nlohmann::json& j);
/// The same from text: invalid_json when it is not JSON (naming the problem and where) or not an object
/// (HTTP intake of replies).
result<store_status_reply> parse_store_status_reply_text(std::string_view text);

}  // namespace bkr::domain
