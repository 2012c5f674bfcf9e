// GET's reads: backup_request row, then the accepted message not consumed yet, then the row.
#include "bkr/receive_request/request_reader.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace bkr::receive_request {
namespace {

// The accepted message's id is the request id (accept.hpp): the messaging library looks it up among the
// messages not consumed yet (queued, delayed or dead-lettered).
std::optional<domain::backup_request> accepted_message_request(storage::unit_of_work& uow,
                                                               std::string_view id) {
  // Ids we generate are UUIDs; anything else cannot name a message (and would not cast to uuid).
  if (!is_uuid(id))
    return std::nullopt;
  const auto text = storage::with_database_errors(
      [&] { return messaging::postgres::pending_payload(uow, domain::accepted_message.queue, id); });
  if (!text)
    return std::nullopt;
  auto payload = domain::parse_accepted_payload(nlohmann::json::parse(*text));
  if (!payload)
    throw std::runtime_error("accepted message " + std::string(id) +
                             " has an invalid payload: " + payload.error().message);
  return domain::to_backup_request(*payload);
}

}  // namespace

std::optional<request_snapshot> read_backup_request(storage::connection_pool& pool,
                                                    std::string_view backup_request_id) {
  const storage::backup_request_repository requests;
  storage::unit_of_work uow(pool);
  auto stored = [&]() -> std::optional<request_snapshot> {
    auto row = requests.find(uow, backup_request_id);
    if (!row)
      return std::nullopt;
    return request_snapshot{std::move(*row), requests.history(uow, backup_request_id), false};
  };
  if (auto s = stored())
    return s;
  if (auto accepted = accepted_message_request(uow, backup_request_id))
    return request_snapshot{std::move(*accepted), {}, true};
  return stored();
}

}  // namespace bkr::receive_request
