// Fuzz target: the bodies of POST /api/backup-requests and POST /api/store-status-replies through the calls
// bkr-receive-request's handlers make (receive_request::endpoints), up to the message each publishes and
// the reading of that message by the stage that consumes it.
//
// Input: "<Idempotency-Key>\n<caller's JWT sub>\n<body>" (an empty first line means no Idempotency-Key
// header); an input with fewer than two '\n' is all body, without the header, from caller `fuzz-client`.
// Every input is tried as both bodies.
//
// Properties: nothing throws or trips a sanitizer; every refusal is a 400 with the domain's wire code
// (never a 500); what is accepted meets the DOMAIN.md field rules, serialises as strict UTF-8 JSON, and the
// message published for it decodes, by the consumer's parser, to exactly what was accepted.
#include "fuzz_check.hpp"

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/fields.hpp"
#include "bkr/http/message.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/receive_request/accept.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace {

using bkr::fuzz::require;
namespace domain = bkr::domain;
namespace messaging = bkr::messaging;
namespace receive_request = bkr::receive_request;

// Fixed stand-ins for what the service takes from the clock, the id generator and the request context, so
// one input always runs the same way.
const bkr::timestamp fixed_now{std::chrono::milliseconds{1'767'225'600'123}};  // 2026-01-01T00:00:00.123Z
const std::string fixed_request_id = "019b7716-0c7b-7000-8000-00000000f022";
const std::string fixed_message_id = "019b7716-0c7b-7000-8000-00000000f023";
const std::string fixed_trace_id = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr std::string_view default_subject = "fuzz-client";

struct post {
  std::optional<std::string_view> idempotency_key;
  std::string_view subject = default_subject;
  std::string_view body;
};

post split(std::string_view input) {
  std::string_view rest = input;
  bool first = false;
  bool second = false;
  const auto key = bkr::fuzz::take_line(rest, first);
  const auto subject = bkr::fuzz::take_line(rest, second);
  if (!first || !second)
    return post{std::nullopt, default_subject, input};
  return post{key.empty() ? std::nullopt : std::optional<std::string_view>(key), subject, rest};
}

// What the handler answers for an input error (http::error_response, as endpoints.cpp calls it): a 400
// whose JSON body carries the domain's wire code. A 500 here would be a validation gap.
void require_bad_request(const bkr::error& e) {
  const auto code = domain::wire_code(e.code);
  require(code.has_value(), "an input error belongs to the domain category");
  require(!e.message.empty(), "an input error says what is wrong");
  const auto response = bkr::http::error_response(e, "fuzz-request");
  require(response.status == 400, "an input error is answered 400");
  const auto body = nlohmann::json::parse(response.body, nullptr, false);
  require(body.is_object() && body.value("code", "") == *code, "the 400 body carries the wire code");
}

// The Postgres publisher stores the envelope as JSON text (strict UTF-8 dump) and the consumer reads it
// back; an envelope that does not survive that trip would be lost or dead-lettered.
messaging::envelope stored_and_read_back(const messaging::envelope& sent) {
  const std::string text = messaging::to_json(sent).dump();
  auto read = messaging::envelope_from_json(nlohmann::json::parse(text));
  require(read.has_value(), "a published envelope decodes");
  require(*read == sent, "a published envelope decodes to what was sent");
  return *read;
}

void post_backup_request(const post& p) {
  bkr::http::fields headers;
  if (p.idempotency_key)
    headers.add("Idempotency-Key", std::string(*p.idempotency_key));
  const auto key = receive_request::idempotency_key(headers);
  if (!key) {
    require_bad_request(key.error());
    return;
  }
  if (*key) {
    require(!p.idempotency_key->empty() && **key == *p.idempotency_key, "the key is taken as sent");
    require(
        domain::check_printable_ascii(**key, "key", receive_request::max_idempotency_key_length).has_value(),
        "an accepted Idempotency-Key is 1..128 printable ASCII");
  }

  const auto input = domain::parse_accept_body(p.body);
  if (!input) {
    require_bad_request(input.error());
    return;
  }
  require(domain::validate_backup_job_id(input->backup_job_id).has_value(), "backupJobId meets its rule");
  require(domain::validate_backup_data_location(input->prepared_data_path_name).has_value(),
          "backupDataLocation meets its rule");
  require(domain::parse_date(domain::format_date(input->data_date)) == input->data_date,
          "dataDate is a real date that formats and parses back");

  const auto accepted =
      domain::make_accepted_request(*input, fixed_request_id, std::string(p.subject), fixed_now);
  if (!accepted) {
    require_bad_request(accepted.error());
    return;
  }
  require(accepted->status_type_code == domain::request_status::accepted, "a new request is Accepted");
  require(accepted->requester_id == p.subject, "the requester is the caller");

  // The 202 body and the backup-request.accepted message, as post_backup_request builds them.
  auto body = domain::accepted_response_body(*accepted);
  const std::string body_text = body.dump();  // strict: throws on text that is not UTF-8
  require(!body_text.empty(), "the 202 body is JSON text");
  const auto message = receive_request::accepted_message(*accepted, body, fixed_trace_id);
  require(message.queue == domain::accepted_message.queue, "the accepted message goes to its queue");
  require(message.message.message_id == accepted->backup_request_id, "the message id is the request id");
  const auto response = receive_request::accepted_response(accepted->backup_request_id, body_text);
  require(response.status == 202, "an accepted request is answered 202");

  // CreateRequest's side: the payload it parses must be the request that was answered 202.
  const auto read = stored_and_read_back(message.message);
  const auto payload = domain::parse_accepted_payload(read.payload);
  require(payload.has_value(), "CreateRequest reads every accepted message");
  require(*payload == domain::to_accepted_payload(*accepted), "the accepted payload round-trips");
  require(domain::to_backup_request(*payload) == *accepted, "CreateRequest sees the accepted request");
}

void post_store_status_reply(std::string_view body) {
  const auto reply = domain::parse_store_status_reply_text(body);
  if (!reply) {
    require_bad_request(reply.error());
    return;
  }
  require(domain::check_printable_ascii(reply->backup_request_id, "id", domain::max_id_length).has_value(),
          "backupRequestId meets its rule");
  require(domain::parse_date(reply->api_version).has_value(), "apiVersion is a date");
  if (reply->result_type_code == domain::store_result::succeeded) {
    require(reply->storage_path_name && reply->backup_byte_count && reply->copy_start_timestamp &&
                reply->copy_end_timestamp,
            "a Succeeded reply has its required fields");
  }
  if (reply->backup_byte_count)
    require(*reply->backup_byte_count >= 0, "backupByteCount is not negative");
  if (reply->copy_start_timestamp && reply->copy_end_timestamp)
    require(*reply->copy_end_timestamp >= *reply->copy_start_timestamp, "copy ends after it starts");

  const auto message =
      receive_request::store_status_message(*reply, fixed_message_id, fixed_trace_id, fixed_now);
  require(message.queue == domain::store_status_message.queue, "a reply goes to the store-status queue");
  require(!receive_request::store_status_accepted_body(message).dump().empty(), "the 202 body is JSON text");

  // ReceiveStatus's side: the reply it parses must be the one that was answered 202.
  const auto read = stored_and_read_back(message.message);
  const auto back = domain::parse_store_status_reply(read.payload);
  require(back.has_value(), "ReceiveStatus reads every reply the intake enqueued");
  require(*back == *reply, "a store status reply round-trips through its message");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const post p = split(bkr::fuzz::as_text(data, size));
  post_backup_request(p);
  post_store_status_reply(p.body);
  return 0;
}
