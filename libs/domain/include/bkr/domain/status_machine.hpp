// The forward-only status machine of a backup request: allowed moves, idempotency, and the pure transitions
// CreateRequest, CheckAllowed and SendToInterface apply (ReceiveStatus's is in store_reply.hpp).
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <variant>

namespace bkr::domain {

/// One edge of the status machine.
struct status_change {
  request_status from;
  request_status to;
};

/// Exactly the DOMAIN.md edges: Accepted->Received, Received->Allowed, Received->NotAllowed, Allowed->Sent,
/// Sent->Succeeded, Sent->Failed, Failed->Succeeded. Everything else (including X->X) is forbidden.
std::span<const status_change> allowed_transitions();
bool is_allowed_transition(request_status from, request_status to);

/// The executables of the pipeline; each sets one status (or one of two).
enum class pipeline_stage {
  receive_request,
  create_request,
  check_allowed,
  send_to_interface,
  receive_status
};

/// The stage name written to history rows: "receive-request", "create-request", "check-allowed",
/// "send-to-interface", "receive-status".
std::string_view to_string(pipeline_stage s);

/// Whether a request at `current` is already at or beyond what `s` would set, so a redelivered message is
/// acknowledged and nothing is done. "Beyond" means reachable from the stage's target by later stages:
///   receive_request   (sets Accepted):            every status.
///   create_request    (sets Received):            every status except Accepted.
///   check_allowed     (sets Allowed | NotAllowed): Allowed, NotAllowed, Sent, Succeeded, Failed.
///   send_to_interface (sets Sent):                Sent, Succeeded, Failed. (NotAllowed is a different
///   branch,
///                                                 not beyond: sending it is a forbidden move.)
///   receive_status    (sets Succeeded | Failed):  Succeeded only. Failed is not final: a later success reply
///                                                 still turns it into Succeeded (DOMAIN.md).
bool is_at_or_beyond(request_status current, pipeline_stage s);

/// What caused a transition: the instant it is made, the stage name for the history row, and the id of the
/// consumed message (empty when none).
struct transition_context {
  timestamp now;
  std::string stage;
  std::string message_id;
};

/// The request moved: write `request` with a compare-and-set on `expected_status` (zero rows updated means
/// another worker did it) and append `history`, in the transaction that retires the consumed message.
struct applied {
  backup_request request;
  history_entry history;
  request_status expected_status;

  friend bool operator==(const applied&, const applied&) = default;
};

/// The request is already at or beyond what this step would set: acknowledge the message, change nothing.
struct already_done {
  request_status status;

  friend bool operator==(const already_done&, const already_done&) = default;
};

using transition = std::variant<applied, already_done>;

/// History `reason` values for NotAllowed.
inline constexpr std::string_view reason_job_not_found = "JobNotFound";
inline constexpr std::string_view reason_job_inactive = "JobInactive";
/// Succeeded although the job was deleted after the request was allowed: the Backup is kept on hold.
inline constexpr std::string_view reason_job_gone_backup_on_hold = "JobNotFoundBackupOnHold";

/// CreateRequest: Accepted -> Received, receivedTimestamp = now (acceptedTimestamp kept). Any other status
/// is at or beyond Received: already_done. Never fails.
result<transition> receive(const backup_request& request, const transition_context& context);

/// CheckAllowed: Received -> Allowed when the job exists and is active (on hold or not), copying
/// backupProviderCode and storagePathName from the job; Received -> NotAllowed with reason JobNotFound
/// (`job` empty: the job service answered "no such job") or JobInactive. checkedTimestamp = now.
/// At or beyond: already_done. Accepted: too_early (CreateRequest's commit is not visible yet).
/// A job whose backupJobId differs from the request's: bad_data (the caller read the wrong job).
result<transition> check_allowed(const backup_request& request, const std::optional<backup_job>& job,
                                 const transition_context& context);

/// SendToInterface, after the interface took the store request: Allowed -> Sent, sentToInterfaceTimestamp =
/// now. Sent, Succeeded, Failed: already_done. Accepted, Received: too_early. NotAllowed: invalid_transition.
result<transition> mark_sent(const backup_request& request, const transition_context& context);

}  // namespace bkr::domain
