// Applying a store status reply (the "a Backup's existence wins" rule) and building the Backup record.
#include "bkr/domain/store_reply.hpp"

#include "bkr/domain/errors.hpp"
#include "status_change.hpp"

#include <algorithm>

namespace bkr::domain {
namespace {

bkr::error bad(std::string message) {
  return make_error(errc::bad_data, std::move(message));
}

constexpr date last_writable_date{std::chrono::year{9999}, std::chrono::December, std::chrono::day{31}};

applied reply_transition(const backup_request& request, const store_status_reply& reply, request_status to,
                         const transition_context& context, std::optional<std::string> reason) {
  backup_request next = request;
  next.status_type_code = to;
  next.reply_timestamp = context.now;
  next.reply_message_text = reply.message_text;
  return detail::make_applied(request, std::move(next), context, std::move(reason));
}

}  // namespace

result<date> due_to_delete_date(date data_date, int days_to_keep) {
  if (days_to_keep < 0)
    return bad("daysToKeep must not be negative");
  if (!data_date.ok())
    return bad("dataDate must be a real calendar date in the form YYYY-MM-DD");
  // Past the last date we can write, the Backup is due "never" within our calendar: keeping it longer
  // than asked is safe, refusing it would leave a request we answered 202 without a final status.
  const auto due = std::chrono::sys_days{data_date} + std::chrono::days{days_to_keep};
  return date{std::min(due, std::chrono::sys_days{last_writable_date})};
}

result<backup> make_backup(const backup_request& request, const store_status_reply& reply,
                           const backup_job& job, std::string backup_id) {
  if (reply.result_type_code != store_result::succeeded)
    return bad("only a Succeeded reply creates a Backup");
  if (!reply.storage_path_name || !reply.backup_byte_count || !reply.copy_start_timestamp ||
      !reply.copy_end_timestamp) {
    return bad(
        "a Succeeded reply needs storagePathName, backupByteCount, copyStartTimestamp and copyEndTimestamp");
  }
  if (!request.backup_provider_code) {
    return bad("backup request " + request.backup_request_id +
               " has no backupProviderCode; it was never allowed");
  }
  auto due = due_to_delete_date(request.data_date, job.days_to_keep);
  if (!due)
    return due.error();

  backup b;
  b.backup_id = std::move(backup_id);
  b.backup_request_id = request.backup_request_id;
  b.backup_job_id = request.backup_job_id;
  b.data_date = request.data_date;
  b.storage_path_name = *reply.storage_path_name;
  b.backup_provider_code = *request.backup_provider_code;
  b.days_to_keep_count = job.days_to_keep;
  b.hold_flag = job.hold_flag;
  b.backup_byte_count = *reply.backup_byte_count;
  b.copy_start_timestamp = *reply.copy_start_timestamp;
  b.copy_end_timestamp = *reply.copy_end_timestamp;
  b.verify_start_timestamp = reply.verify_start_timestamp;
  b.verify_end_timestamp = reply.verify_end_timestamp;
  b.verify_hash_text = reply.verified_hash;
  b.due_to_delete_date = *due;
  return b;
}

result<reply_outcome> apply_store_status_reply(const backup_request& request, const store_status_reply& reply,
                                               bool backup_exists, const std::optional<backup_job>& job,
                                               const transition_context& context, std::string new_backup_id) {
  if (reply.backup_request_id != request.backup_request_id) {
    return bad("backupRequestId of the reply (" + reply.backup_request_id + ") does not match the request (" +
               request.backup_request_id + ")");
  }
  const request_status status = request.status_type_code;
  switch (status) {
    case request_status::accepted:
    case request_status::received:
    case request_status::allowed:
      return make_error(errc::too_early, "backup request " + request.backup_request_id + " is " +
                                             std::string(to_string(status)) +
                                             "; a store status reply applies only once it is Sent");
    case request_status::not_allowed:
      return make_error(errc::invalid_transition,
                        "backup request " + request.backup_request_id +
                            " is NotAllowed and was never sent; the reply cannot apply");
    case request_status::sent:
    case request_status::failed:
    case request_status::succeeded:
      break;
  }

  reply_outcome outcome{std::nullopt, already_done{status}};
  if (backup_exists) {
    if (status != request_status::succeeded) {
      outcome.request = reply_transition(request, reply, request_status::succeeded, context,
                                         std::string(reason_backup_exists));
    }
    return outcome;
  }

  if (reply.result_type_code == store_result::succeeded) {
    // The job deleted since the request was allowed: the data is stored all the same, so the Backup is
    // recorded and kept on hold (no retention to apply it by: daysToKeepCount 0, never due while on hold)
    // until someone decides, and the request ends Succeeded with the reason in its history.
    const backup_job on_hold{.backup_job_id = request.backup_job_id, .days_to_keep = 0, .hold_flag = true};
    auto created = make_backup(request, reply, job ? *job : on_hold, std::move(new_backup_id));
    if (!created)
      return created.error();
    outcome.new_backup = std::move(*created);
    if (status != request_status::succeeded) {
      outcome.request =
          reply_transition(request, reply, request_status::succeeded, context,
                           job ? std::nullopt : std::optional<std::string>(reason_job_gone_backup_on_hold));
    }
    return outcome;
  }

  if (status == request_status::sent) {
    outcome.request = reply_transition(request, reply, request_status::failed, context, std::nullopt);
  }
  return outcome;
}

}  // namespace bkr::domain
