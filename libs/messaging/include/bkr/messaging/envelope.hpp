// The message envelope carried on every queue, its JSON codec, and what a producer hands to publish().
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace bkr::messaging {

enum class errc {
  invalid_envelope = 1,  // a field of an envelope is missing or has the wrong type or form
  not_found,             // no dead letter (or message) with that id
  invalid_argument,      // an admin call got a bad queue name or id
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

/// One message as it travels between stages. Value type. `attempt` is set by the backend on delivery
/// (1 on the first delivery) and ignored on publish.
struct envelope {
  std::string message_id;  ///< UUID, unique per message (UUIDv7 when made by make_envelope)
  std::string type;        ///< e.g. `BackupRequestAccepted`
  int schema_version = 1;  ///< version of the payload's JSON Schema
  std::string key;         ///< backupRequestId: the end-to-end correlation key
  timestamp occurred_at{};
  std::string trace_id;
  std::string producer;  ///< the executable that produced the message
  int attempt = 0;
  nlohmann::json payload = nlohmann::json::object();

  friend bool operator==(const envelope&, const envelope&) = default;
};

/// A new envelope with a fresh UUIDv7 id, occurred_at from `clock`, attempt 0.
envelope make_envelope(std::string type, std::string key, nlohmann::json payload, std::string producer,
                       std::string trace_id, const bkr::clock& clock);

/// Wire form (proto/messages/envelope.schema.json): camelCase keys, occurredAt as RFC 3339 UTC with ms.
nlohmann::json to_json(const envelope& e);
/// Parses the wire form; errc::invalid_envelope names the offending field.
result<envelope> envelope_from_json(const nlohmann::json& j);

/// What a producer publishes: an envelope addressed to a queue, delivered in publish order (no priorities)
/// and not de-duplicated (consumers are idempotent).
struct outgoing_message {
  std::string queue;
  envelope message;
  std::chrono::milliseconds delay{0};  ///< not delivered before publish time (commit time) + delay
};

/// True for names made of [a-z0-9._-] with 1..200 characters (queue names are also NOTIFY payloads).
bool is_valid_queue_name(std::string_view queue);

}  // namespace bkr::messaging

template <>
struct std::is_error_code_enum<bkr::messaging::errc> : std::true_type {};
