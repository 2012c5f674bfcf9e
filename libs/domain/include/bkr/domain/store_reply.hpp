// ReceiveStatus's rules: applying a store status reply to a request and building the Backup record.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/types.hpp"

#include <optional>
#include <string>

namespace bkr::domain {

/// History `reason` when a reply of any kind ends the request Succeeded because a Backup already exists.
inline constexpr std::string_view reason_backup_exists = "BackupExists";

/// dataDate + days_to_keep calendar days (UTC, no time of day involved), saturated at 9999-12-31, the last
/// date `YYYY-MM-DD` can write: a sum past it is 9999-12-31 (kept longer than asked, never deleted
/// earlier), so every valid dataDate and job gives a Backup. bad_data only when days_to_keep is negative
/// or data_date is not a real date.
result<date> due_to_delete_date(date data_date, int days_to_keep);

/// The Backup a success reply creates: storagePathName, byte count, copy/verify timestamps and
/// verifyHashText (from verifiedHash) from the reply; backupJobId, dataDate and backupProviderCode from the
/// request; daysToKeepCount and holdFlag from the job as it is now. bad_data when the reply is not a
/// complete success or the request has no backupProviderCode (it was never allowed).
result<backup> make_backup(const backup_request& request, const store_status_reply& reply,
                           const backup_job& job, std::string backup_id);

/// What applying a reply decided; storage writes both in one transaction (the Backup first: its unique key on
/// backupRequestId makes a concurrent duplicate fail, and the retry then finds the Backup).
struct reply_outcome {
  std::optional<backup> new_backup;  ///< insert when set
  transition request;                ///< applied (Succeeded or Failed) or already_done

  friend bool operator==(const reply_outcome&, const reply_outcome&) = default;
};

/// Applies a validated reply to its request. `backup_exists`: a Backup row for the request exists now.
/// `job`: the request's job as the job service reports it now (nullopt: no such job); needed only when a
/// Backup is created. `new_backup_id`: the id to give that Backup.
///
/// Status gate: Sent, Failed and Succeeded accept a reply. Accepted, Received, Allowed: too_early (the
/// interface may answer before SendToInterface's Sent commit is visible; the worker retries). NotAllowed:
/// invalid_transition (it was never sent; the worker dead-letters the reply). A reply for another request:
/// bad_data.
///
/// Decision (DOMAIN.md "Applying a reply"; where it is silent, the original controller's table, but never
/// backwards; "Succeeded (heals)" can only follow a lost Backup row, since both are written together):
///   Backup exists | reply     | request    | Backup to create | request
///   yes           | any       | Sent/Failed| none             | -> Succeeded (reason BackupExists)
///   yes           | any       | Succeeded  | none             | already_done
///   no            | Succeeded | Sent/Failed| new              | -> Succeeded
///   no            | Succeeded | Succeeded  | new (heals)      | already_done
///   no            | Failed    | Sent       | none             | -> Failed
///   no            | Failed    | Failed     | none             | already_done
///   no            | Failed    | Succeeded  | none             | already_done (no Succeeded -> Failed)
/// Every applied change sets replyTimestamp = now and replyMessageText = this reply's messageText (absent
/// when the reply has none: the text always belongs to the reply that made the last change).
/// A Backup to create with `job` empty (deleted since the request was allowed): created on hold (holdFlag
/// true, daysToKeepCount 0), the move to Succeeded carries reason JobNotFoundBackupOnHold.
result<reply_outcome> apply_store_status_reply(const backup_request& request, const store_status_reply& reply,
                                               bool backup_exists, const std::optional<backup_job>& job,
                                               const transition_context& context, std::string new_backup_id);

}  // namespace bkr::domain
