// Wire JSON (camelCase, as DOMAIN.md) of the domain entities: requests, history, jobs, backups, the 202 body.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"

#include <nlohmann/json.hpp>

namespace bkr::domain {

// Entity views have a fixed shape: every field is always present, and a value not set yet is JSON null
// (e.g. "checkedTimestamp": null before CheckAllowed). Timestamps are RFC 3339 UTC with milliseconds
// (bkr::format_timestamp), dates YYYY-MM-DD, enums their wire names. Found by ADL: `nlohmann::json j = x;`.
void to_json(nlohmann::json& j, const backup_request& r);
void to_json(nlohmann::json& j,
             const history_entry& h);  // {backupRequestId, fromStatus, toStatus, at, stage,
                                       //  messageId, reason}
void to_json(nlohmann::json& j, const backup_job& job);
void to_json(nlohmann::json& j, const backup& b);

/// The reverse of to_json(backup_request), validating every field by the DOMAIN.md rules (null or absent
/// optional fields are unset). For clients of GET /api/backup-requests/{id} and for tests.
result<backup_request> parse_backup_request(const nlohmann::json& j);

/// A job as the backup job service reports it: {backupJobId, storagePathName (1..250), backupProviderCode
/// (Local|CloudA|CloudB), daysToKeep (integer >= 0), isActive, holdFlag}, all required; unknown fields
/// ignored.
result<backup_job> parse_backup_job(const nlohmann::json& j);

/// The 202 body of POST /api/backup-requests: {backupRequestId, backupJobId, dataDate, preparedDataPathName,
/// getOnStartFlag, transportTypeCode, statusTypeCode:"Accepted", acceptedTimestamp, requesterId}. The same
/// object is the backup-request.accepted payload (messages.hpp). `request` must be Accepted (asserted).
nlohmann::json accepted_response_body(const backup_request& request);

}  // namespace bkr::domain
