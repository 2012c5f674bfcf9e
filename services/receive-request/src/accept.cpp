// Header rules, outgoing messages and response bodies of the API, as plain functions.
#include "bkr/receive_request/accept.hpp"

#include "bkr/common/digest.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/errors.hpp"
#include "bkr/receive_request/settings.hpp"

namespace bkr::receive_request {

result<std::optional<std::string>> idempotency_key(const http::fields& headers) {
  if (headers.count(idempotency_key_header) > 1)
    return domain::make_error(domain::errc::bad_data,
                              std::string(idempotency_key_header) + " must be sent once");
  const auto value = headers.get(idempotency_key_header);
  if (!value)
    return std::optional<std::string>{};
  if (auto ok = domain::check_printable_ascii(*value, idempotency_key_header, max_idempotency_key_length);
      !ok)
    return ok.error();
  return std::optional<std::string>{std::string(*value)};
}

std::string request_fingerprint(const domain::accept_input& input) {
  const nlohmann::json canonical{{"backupJobId", input.backup_job_id},
                                 {"dataDate", domain::format_date(input.data_date)},
                                 {"backupDataLocation", input.prepared_data_path_name}};
  return sha256_hex(canonical.dump());
}

result<void> check_same_payload(const storage::idempotent_response& first, std::string_view fingerprint) {
  if (!first.request_fingerprint || *first.request_fingerprint == fingerprint)
    return {};
  return http::make_error(http::errc::idempotency_key_reused,
                          "this Idempotency-Key was first used with another payload (backupRequestId " +
                              first.backup_request_id + "); send a new key for a new request");
}

std::string location_of(std::string_view backup_request_id) {
  return "/api/backup-requests/" + std::string(backup_request_id);
}

messaging::outgoing_message accepted_message(const domain::backup_request& request, nlohmann::json body,
                                             std::string trace_id) {
  messaging::outgoing_message out;
  out.queue = std::string(domain::accepted_message.queue);
  auto& e = out.message;
  e.message_id = request.backup_request_id;
  e.type = std::string(domain::accepted_message.type);
  e.schema_version = domain::accepted_message.schema_version;
  e.key = request.backup_request_id;
  e.occurred_at = request.accepted_timestamp.value_or(timestamp{});
  e.trace_id = std::move(trace_id);
  e.producer = std::string(service_name);
  e.payload = std::move(body);
  return out;
}

messaging::outgoing_message store_status_message(const domain::store_status_reply& reply,
                                                 std::string message_id, std::string trace_id,
                                                 timestamp now) {
  messaging::outgoing_message out;
  out.queue = std::string(domain::store_status_message.queue);
  auto& e = out.message;
  e.message_id = std::move(message_id);
  e.type = std::string(domain::store_status_message.type);
  e.schema_version = domain::store_status_message.schema_version;
  e.key = reply.backup_request_id;
  e.occurred_at = now;
  e.trace_id = std::move(trace_id);
  e.producer = std::string(service_name);
  e.payload = reply;
  return out;
}

http::response accepted_response(std::string_view backup_request_id, std::string body) {
  http::response r;
  r.status = 202;
  r.body = std::move(body);
  r.headers.add("Location", location_of(backup_request_id));
  return r;
}

nlohmann::json request_view(const domain::backup_request& request,
                            const std::vector<domain::history_entry>& history) {
  nlohmann::json view = request;
  view["history"] = history;
  return view;
}

nlohmann::json store_status_accepted_body(const messaging::outgoing_message& message) {
  return {{"backupRequestId", message.message.key},
          {"messageId", message.message.message_id},
          {"queue", message.queue}};
}

}  // namespace bkr::receive_request
