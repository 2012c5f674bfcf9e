// Envelopes of the messages stages produce, and the type check of the messages they consume.
#include "bkr/app/stage.hpp"

#include "bkr/app/errors.hpp"

namespace bkr::app {

std::string_view to_string(stage_outcome o) {
  switch (o) {
    case stage_outcome::applied:
      return "applied";
    case stage_outcome::already_done:
      return "already_done";
    case stage_outcome::lost_race:
      return "lost_race";
  }
  return "unknown";
}

messaging::outgoing_message next_message(const domain::message_contract& contract, std::string queue,
                                         const std::string& backup_request_id, nlohmann::json payload,
                                         const messaging::envelope& cause, const std::string& producer,
                                         const bkr::clock& clock) {
  auto envelope = messaging::make_envelope(std::string(contract.type), backup_request_id, std::move(payload),
                                           producer, cause.trace_id, clock);
  envelope.schema_version = contract.schema_version;
  return messaging::outgoing_message{std::move(queue), std::move(envelope)};
}

result<void> check_contract(const messaging::envelope& message, const domain::message_contract& contract) {
  if (message.type != contract.type)
    return make_error(errc::unexpected_message, "unexpected message type '" + message.type + "' (expected " +
                                                    std::string(contract.type) + ")");
  if (message.schema_version < 1 || message.schema_version > contract.schema_version)
    return make_error(errc::unexpected_message, "unsupported schemaVersion " +
                                                    std::to_string(message.schema_version) + " of " +
                                                    message.type + " (this version reads 1.." +
                                                    std::to_string(contract.schema_version) + ")");
  return {};
}

}  // namespace bkr::app
