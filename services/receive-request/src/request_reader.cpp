// GET's reads: backup_request row, then the accepted message in mq (queued or dead-lettered), then the row.
#include "bkr/receive_request/request_reader.hpp"

#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <nlohmann/json.hpp>

#include <string>

namespace bkr::receive_request {
namespace {

// The accepted message's id is the request id (accept.hpp), so both tables are read by primary key. The
// messaging library has no read-one-message port; this is the only place that reads mq tables directly.
const std::string find_accepted_message_name = "bkr_rr_find_accepted_message";
const std::string find_accepted_message_sql =
    "SELECT payload::text FROM mq.messages WHERE message_id = $1::uuid AND queue = $2"
    " UNION ALL"
    " SELECT payload::text FROM mq.dead_letters WHERE message_id = $1::uuid AND queue = $2"
    " LIMIT 1";

std::optional<domain::backup_request> accepted_message_request(storage::unit_of_work& uow,
                                                               std::string_view id) {
  // Ids we generate are UUIDs; anything else cannot name a message (and would not cast to uuid).
  if (!is_uuid(id))
    return std::nullopt;
  const auto rows = storage::with_database_errors([&] {
    uow.prepare(find_accepted_message_name, find_accepted_message_sql);
    return uow.tx().exec_prepared(find_accepted_message_name, std::string(id),
                                  std::string(domain::accepted_message.queue));
  });
  if (rows.empty())
    return std::nullopt;
  auto payload = domain::parse_accepted_payload(nlohmann::json::parse(rows[0][0].c_str()));
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
