// Transition table, idempotency rule and the transitions of CreateRequest, CheckAllowed and SendToInterface.
#include "bkr/domain/status_machine.hpp"

#include "bkr/domain/errors.hpp"
#include "status_change.hpp"

#include <algorithm>
#include <array>
#include <cassert>

namespace bkr::domain {
namespace {

using enum request_status;

constexpr std::array<status_change, 7> edges{{
    {accepted, received},
    {received, allowed},
    {received, not_allowed},
    {allowed, sent},
    {sent, succeeded},
    {sent, failed},
    {failed, succeeded},
}};

std::string status_text(request_status s) {
  return std::string(to_string(s));
}

bkr::error too_early_error(const backup_request& request, std::string_view step) {
  return make_error(errc::too_early, "backup request " + request.backup_request_id + " is " +
                                         status_text(request.status_type_code) + "; " + std::string(step) +
                                         " must wait until it gets there");
}

bkr::error forbidden(const backup_request& request, request_status to) {
  return make_error(errc::invalid_transition,
                    "backup request " + request.backup_request_id + " cannot move from " +
                        status_text(request.status_type_code) + " to " + status_text(to));
}

}  // namespace

std::span<const status_change> allowed_transitions() {
  return edges;
}

bool is_allowed_transition(request_status from, request_status to) {
  return std::any_of(edges.begin(), edges.end(),
                     [&](const status_change& e) { return e.from == from && e.to == to; });
}

std::string_view to_string(pipeline_stage s) {
  switch (s) {
    case pipeline_stage::receive_request:
      return "receive-request";
    case pipeline_stage::create_request:
      return "create-request";
    case pipeline_stage::check_allowed:
      return "check-allowed";
    case pipeline_stage::send_to_interface:
      return "send-to-interface";
    case pipeline_stage::receive_status:
      return "receive-status";
  }
  return "unknown";
}

bool is_at_or_beyond(request_status current, pipeline_stage s) {
  switch (s) {
    case pipeline_stage::receive_request:
      return true;
    case pipeline_stage::create_request:
      return current != accepted;
    case pipeline_stage::check_allowed:
      return current == allowed || current == not_allowed || current == sent || current == succeeded ||
             current == failed;
    case pipeline_stage::send_to_interface:
      return current == sent || current == succeeded || current == failed;
    case pipeline_stage::receive_status:
      return current == succeeded;
  }
  return false;
}

namespace detail {

applied make_applied(const backup_request& before, backup_request after, const transition_context& context,
                     std::optional<std::string> reason) {
  assert(is_allowed_transition(before.status_type_code, after.status_type_code));
  history_entry history{
      .backup_request_id = before.backup_request_id,
      .from_status = before.status_type_code,
      .to_status = after.status_type_code,
      .at = context.now,
      .stage = context.stage,
      .message_id = context.message_id,
      .reason = std::move(reason),
  };
  return applied{std::move(after), std::move(history), before.status_type_code};
}

}  // namespace detail

result<transition> receive(const backup_request& request, const transition_context& context) {
  if (is_at_or_beyond(request.status_type_code, pipeline_stage::create_request)) {
    return already_done{request.status_type_code};
  }
  backup_request next = request;
  next.status_type_code = received;
  next.received_timestamp = context.now;
  return detail::make_applied(request, std::move(next), context, std::nullopt);
}

result<transition> check_allowed(const backup_request& request, const std::optional<backup_job>& job,
                                 const transition_context& context) {
  if (is_at_or_beyond(request.status_type_code, pipeline_stage::check_allowed)) {
    return already_done{request.status_type_code};
  }
  if (request.status_type_code != received)
    return too_early_error(request, "the allowed check");
  if (job && job->backup_job_id != request.backup_job_id) {
    return make_error(errc::bad_data, "backupJobId of the job (" + job->backup_job_id +
                                          ") does not match the request's (" + request.backup_job_id + ")");
  }

  backup_request next = request;
  next.checked_timestamp = context.now;
  std::optional<std::string> reason;
  if (!job) {
    next.status_type_code = not_allowed;
    reason = std::string(reason_job_not_found);
  } else if (!job->is_active) {
    next.status_type_code = not_allowed;
    reason = std::string(reason_job_inactive);
  } else {
    // holdFlag does not matter here: hold only affects deletion of the Backup.
    next.status_type_code = allowed;
    next.backup_provider_code = job->backup_provider_code;
    next.storage_path_name = job->storage_path_name;
  }
  return detail::make_applied(request, std::move(next), context, std::move(reason));
}

result<transition> mark_sent(const backup_request& request, const transition_context& context) {
  if (is_at_or_beyond(request.status_type_code, pipeline_stage::send_to_interface)) {
    return already_done{request.status_type_code};
  }
  switch (request.status_type_code) {
    case accepted:
    case received:
      return too_early_error(request, "sending to the interface");
    case not_allowed:
      return forbidden(request, sent);
    default:
      break;
  }
  backup_request next = request;
  next.status_type_code = sent;
  next.sent_to_interface_timestamp = context.now;
  return detail::make_applied(request, std::move(next), context, std::nullopt);
}

}  // namespace bkr::domain
