// Fuzz target: queue messages as the workers decode them. The input is JSON text; it is read as a message
// envelope (libs/messaging wire form), and the envelope's payload, as well as the whole document, as every
// payload type of the pipeline (libs/domain): the accepted, received and allowed messages, the store request
// to an interface and its store status reply, and the backup job and request documents of the HTTP APIs.
//
// Properties: nothing throws or trips a sanitizer; a payload that does not decode is a permanent domain
// error, which the workers' one mapping (app::run_and_map) turns into `reject` (dead letter now), never
// `retry` (a poison message must not loop); whatever decodes re-encodes as strict UTF-8 JSON and decodes to
// the same value; an envelope survives its wire form; and what a stage does next with a decoded payload (the
// status machine, the Backup record, the store request) works on it.
#include "fuzz_check.hpp"

#include "bkr/app/outcome_mapping.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/errors.hpp"
#include "bkr/domain/json.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/store_reply.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/messaging/handler.hpp"

#include <nlohmann/json.hpp>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <variant>

namespace {

using bkr::fuzz::require;
namespace app = bkr::app;
namespace domain = bkr::domain;
namespace messaging = bkr::messaging;

const bkr::timestamp fixed_now{std::chrono::milliseconds{1'767'225'600'123}};  // 2026-01-01T00:00:00.123Z
const std::string fixed_backup_id = "019b7716-0c7b-7000-8000-00000000b001";
const domain::date fixed_data_date{std::chrono::year{2026}, std::chrono::month{1}, std::chrono::day{1}};

domain::transition_context context(domain::pipeline_stage stage) {
  return {fixed_now, std::string(domain::to_string(stage)), "019b7716-0c7b-7000-8000-00000000c001"};
}

// A job as the job service would report it for `job_id`.
domain::backup_job active_job(std::string job_id) {
  return {std::move(job_id), "/vault/fuzz", domain::provider::cloud_b, 30, true, false};
}

// A request that reached Sent along the normal path, for applying replies to it.
domain::backup_request sent_request(std::string id) {
  domain::backup_request r;
  r.backup_request_id = std::move(id);
  r.backup_job_id = "job-fuzz";
  r.data_date = fixed_data_date;
  r.prepared_data_path_name = "/prepared/fuzz";
  r.requester_id = "fuzz-client";
  r.status_type_code = domain::request_status::sent;
  r.backup_provider_code = domain::provider::local;
  r.storage_path_name = "/vault/fuzz";
  r.accepted_timestamp = r.received_timestamp = r.checked_timestamp = r.sent_to_interface_timestamp =
      fixed_now - std::chrono::hours{1};
  return r;
}

// What a worker does with a failure to decode: it must be a permanent domain error, dead-lettered at once.
void require_permanent(const bkr::error& e) {
  require(domain::wire_code(e.code).has_value(), "a decoding error belongs to the domain category");
  require(!e.message.empty(), "a decoding error says what is wrong");
  const auto verdict = app::to_handler_result(bkr::result<app::stage_outcome>(e));
  require(verdict.kind == messaging::outcome::reject, "a payload that does not decode is rejected");
}

domain::backup_request applied_request(const bkr::result<domain::transition>& t) {
  require(t.has_value(), "the next transition of a decoded payload succeeds");
  const auto* move = std::get_if<domain::applied>(&*t);
  require(move != nullptr, "the next transition of a decoded payload is applied");
  return move->request;
}

// Decodes `j` with `parse`; what decodes must re-encode (strict dump) and decode to the same value.
template <class Parse>
auto decode(const nlohmann::json& j, Parse parse, std::string_view round_trip)
    -> std::optional<typename std::invoke_result_t<Parse, const nlohmann::json&>::value_type> {
  auto value = parse(j);
  if (!value) {
    require_permanent(value.error());
    return std::nullopt;
  }
  const nlohmann::json encoded = *value;
  const auto again = parse(nlohmann::json::parse(encoded.dump()));
  require(again.has_value() && *again == *value, round_trip);
  return std::move(*value);
}

// CreateRequest, CheckAllowed and SendToInterface in turn on an accepted request: every accepted message
// must make a store request that the interface can read back.
void follow_accepted(const domain::accepted_payload& p) {
  const auto accepted = domain::to_backup_request(p);
  const auto received =
      applied_request(domain::receive(accepted, context(domain::pipeline_stage::create_request)));
  require(received.status_type_code == domain::request_status::received, "CreateRequest sets Received");
  const auto allowed = applied_request(domain::check_allowed(received, active_job(received.backup_job_id),
                                                             context(domain::pipeline_stage::check_allowed)));
  require(allowed.status_type_code == domain::request_status::allowed, "an active job allows the request");
  const auto sent =
      applied_request(domain::mark_sent(allowed, context(domain::pipeline_stage::send_to_interface)));
  const auto store = domain::make_store_request(sent);
  require(store.has_value(), "an allowed request makes a store request");
  const auto read = domain::parse_store_request(nlohmann::json::parse(nlohmann::json(*store).dump()));
  require(read.has_value() && *read == *store, "the interface reads the store request as sent");
}

// ReceiveStatus on a Sent request, with and without a Backup already there.
void follow_reply(const domain::store_status_reply& reply, const std::optional<domain::backup_job>& job) {
  const auto request = sent_request(reply.backup_request_id);
  for (const bool backup_exists : {false, true}) {
    const auto outcome = domain::apply_store_status_reply(
        request, reply, backup_exists, job, context(domain::pipeline_stage::receive_status), fixed_backup_id);
    if (!outcome) {
      // Only the Backup record can fail, and only without a job (a due date past 9999-12-31 saturates).
      require(!backup_exists && reply.result_type_code == domain::store_result::succeeded && !job,
              "applying a valid reply to a Sent request fails only when building the Backup without a job");
      require_permanent(outcome.error());
      continue;
    }
    const auto* move = std::get_if<domain::applied>(&outcome->request);
    require(move != nullptr, "a reply moves a Sent request");
    const bool success = backup_exists || reply.result_type_code == domain::store_result::succeeded;
    require(move->request.status_type_code ==
                (success ? domain::request_status::succeeded : domain::request_status::failed),
            "a reply ends Succeeded exactly when a Backup exists or is made");
    require(outcome->new_backup.has_value() ==
                (!backup_exists && reply.result_type_code == domain::store_result::succeeded),
            "a Backup is made only by a success reply when there is none");
    if (outcome->new_backup) {
      const auto& b = *outcome->new_backup;
      require(b.due_to_delete_date.ok() && b.due_to_delete_date >= b.data_date,
              "the due date is a real date");
      require(b.storage_path_name == reply.storage_path_name, "the Backup takes the reply's path");
    }
  }
}

void follow_job(const domain::backup_job& job) {
  domain::backup_request received = sent_request("019b7716-0c7b-7000-8000-00000000d001");
  received.status_type_code = domain::request_status::received;
  received.backup_job_id = job.backup_job_id;
  received.backup_provider_code.reset();
  received.storage_path_name.reset();
  received.checked_timestamp.reset();
  received.sent_to_interface_timestamp.reset();
  const auto checked =
      applied_request(domain::check_allowed(received, job, context(domain::pipeline_stage::check_allowed)));
  require(checked.status_type_code ==
              (job.is_active ? domain::request_status::allowed : domain::request_status::not_allowed),
          "a job allows exactly when it is active");
  const auto due = domain::due_to_delete_date(fixed_data_date, job.days_to_keep);
  require(due.has_value() && due->ok() && *due >= fixed_data_date,
          "every job gives a due date, a real date on or after the data date");
}

// Every payload decoder of the pipeline on one JSON value.
void decode_payloads(const nlohmann::json& j) {
  if (auto p = decode(j, domain::parse_accepted_payload, "an accepted payload round-trips"))
    follow_accepted(*p);
  decode(j, domain::parse_received_payload, "a received payload round-trips");
  decode(j, domain::parse_allowed_payload, "an allowed payload round-trips");
  decode(j, domain::parse_store_request, "a store request round-trips");
  decode(j, domain::parse_backup_request, "a backup request document round-trips");
  const auto job = decode(j, domain::parse_backup_job, "a backup job round-trips");
  if (job)
    follow_job(*job);
  if (auto reply = decode(j, domain::parse_store_status_reply, "a store status reply round-trips")) {
    follow_reply(*reply, active_job("job-fuzz"));
    follow_reply(*reply, std::nullopt);
    if (job)
      follow_reply(*reply, job);
  }
}

// A stage's first steps on a delivery (check_contract, then its payload parser), mapped to a verdict the
// way stage_handler does it.
template <class Parse>
void consume(const messaging::envelope& e, const domain::message_contract& contract, Parse parse) {
  bool decoded = false;
  const auto verdict = app::run_and_map([&]() -> bkr::result<app::stage_outcome> {
    if (auto ok = app::check_contract(e, contract); !ok)
      return ok.error();
    auto payload = parse(e.payload);
    if (!payload)
      return payload.error();
    decoded = true;
    return app::stage_outcome::applied;
  });
  const bool ours =
      e.type == contract.type && e.schema_version >= 1 && e.schema_version <= contract.schema_version;
  require(decoded == (ours && parse(e.payload).has_value()), "a stage decodes exactly its own messages");
  require(verdict.kind == (decoded ? messaging::outcome::commit : messaging::outcome::reject),
          "a message a stage cannot read is rejected, never retried");
  if (!decoded)
    require(!verdict.reason.empty(), "a rejected message carries its reason to the dead letters");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const auto j = nlohmann::json::parse(bkr::fuzz::as_text(data, size), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded())
    return 0;  // the queues hold JSON only: text that is not JSON never reaches a decoder

  const auto e = messaging::envelope_from_json(j);
  if (!e) {
    require(e.error().code == messaging::errc::invalid_envelope && !e.error().message.empty(),
            "an envelope error says which field is wrong");
    decode_payloads(j);
    return 0;
  }
  const auto again = messaging::envelope_from_json(nlohmann::json::parse(messaging::to_json(*e).dump()));
  require(again.has_value() && *again == *e, "an envelope round-trips through its wire form");

  consume(*e, domain::accepted_message, domain::parse_accepted_payload);
  consume(*e, domain::received_message, domain::parse_received_payload);
  consume(*e, domain::allowed_message, domain::parse_allowed_payload);
  consume(*e, domain::store_status_message, domain::parse_store_status_reply);
  consume(*e, domain::store_request_message, domain::parse_store_request);
  decode_payloads(e->payload);
  return 0;
}
