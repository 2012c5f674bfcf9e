// Pure pieces of the API: header rules, the messages this service publishes, and response bodies.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/domain/validation.hpp"
#include "bkr/http/fields.hpp"
#include "bkr/http/message.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/storage/idempotency_key_repository.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::receive_request {

inline constexpr std::string_view idempotency_key_header = "Idempotency-Key";
inline constexpr std::size_t max_idempotency_key_length = 128;

/// The `Idempotency-Key` header: nullopt when absent; otherwise 1..128 printable ASCII characters
/// (0x21..0x7E), else domain bad_data naming the header. Sent more than once: bad_data (ambiguous).
result<std::optional<std::string>> idempotency_key(const http::fields& headers);

/// The fingerprint of a POST's payload that an Idempotency-Key is bound to: hex SHA-256 of the validated
/// fields as canonical JSON (`{"backupDataLocation","backupJobId","dataDate"}`, keys sorted, no spaces).
/// Formatting, field order and unknown fields do not change it; any change of a field does.
std::string request_fingerprint(const domain::accept_input& input);

/// A repeat of an Idempotency-Key gets the first answer only when it carries the same payload: else http
/// idempotency_key_reused (422). A first answer without a fingerprint (recorded before fingerprints were
/// stored) counts as the same payload.
result<void> check_same_payload(const storage::idempotent_response& first, std::string_view fingerprint);

/// `/api/backup-requests/{id}`.
std::string location_of(std::string_view backup_request_id);

/// The backup-request.accepted message of an Accepted request. Its payload is `body` (the 202 body: the
/// same object, see domain::accepted_response_body). Its message id is the request id: the accepted
/// message is the request until CreateRequest stores it, so GET finds it by primary key, and a second
/// publish for the same request could never insert a second message.
messaging::outgoing_message accepted_message(const domain::backup_request& request, nlohmann::json body,
                                             std::string trace_id);

/// A store status reply for backup-interface.store-status, keyed by its backupRequestId. No
/// de-duplication key: every reply counts (a later success turns Failed into Succeeded).
messaging::outgoing_message store_status_message(const domain::store_status_reply& reply,
                                                 std::string message_id, std::string trace_id, timestamp now);

/// 202 with `body` (JSON text) and `Location` of the request.
http::response accepted_response(std::string_view backup_request_id, std::string body);

/// The GET body: every field of the request (domain::to_json) plus `history`, oldest first.
nlohmann::json request_view(const domain::backup_request& request,
                            const std::vector<domain::history_entry>& history);

/// 202 body of POST /api/store-status-replies: {backupRequestId, messageId, queue}.
nlohmann::json store_status_accepted_body(const messaging::outgoing_message& message);

}  // namespace bkr::receive_request
