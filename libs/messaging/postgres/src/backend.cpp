// The backend's entry points and the look-ups of messages not consumed yet.
#include "bkr/messaging/postgres/backend.hpp"

#include "bkr/messaging/postgres/log.hpp"
#include "log_sql.hpp"

namespace bkr::messaging::postgres {
namespace {

// Rows of the log after their partition's cursor (every row where the partition has none yet): a range scan
// of the backlog on the position index, never of what was consumed.
const std::string log_pending_rows = R"sql(
)sql" + log_sql::partitions_cte + R"sql(,
pending AS (
  SELECT m.* FROM p LEFT JOIN mq.cursors c ON c.queue = $1 AND c.part = p.part
  JOIN LATERAL (SELECT * FROM mq.log m WHERE m.queue = $1 AND m.part = p.part
                  AND (m.tx, m.seq) > (coalesce(c.tx, '0'::xid8), coalesce(c.seq, 0))) m ON true))sql";

const std::string log_payload_sql =
    "WITH" + log_pending_rows +
    "\nSELECT payload::text FROM pending WHERE message_id = $2::uuid"
    " UNION ALL SELECT payload::text FROM mq.delayed WHERE message_id = $2::uuid AND queue = $1"
    " UNION ALL SELECT payload::text FROM mq.dead_letters WHERE message_id = $2::uuid AND queue = $1 LIMIT 1";

const std::string log_keys_sql =
    "WITH" + log_pending_rows +
    "\nSELECT key FROM pending WHERE key = ANY($2::text[])"
    " UNION SELECT key FROM mq.delayed WHERE queue = $1 AND key = ANY($2::text[])"
    " UNION SELECT key FROM mq.dead_letters WHERE queue = $1 AND key = ANY($2::text[])";

}  // namespace

std::unique_ptr<messaging::publisher> make_publisher(bkr::storage::unit_of_work& uow) {
  return std::make_unique<log_publisher>(uow);
}

std::size_t publish_bulk(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages) {
  // Appended in place (no copy of the batch); the doorbell rings once the unit has committed.
  const auto n = append_to_log(uow, messages);
  uow.after_commit(
      [&uow, queues = log_sql::queues_of(messages)] { ring_doorbells(uow.connection(), queues); });
  return n;
}

std::unique_ptr<messaging::consumer> make_consumer(bkr::storage::connection_pool& pool,
                                                   const std::string& conninfo, consumer_options options,
                                                   handler& h, notifier* wakeups) {
  return std::make_unique<log_consumer>(pool, conninfo, std::move(options), h, wakeups);
}

std::unique_ptr<messaging::admin> make_admin(bkr::storage::connection_pool& pool) {
  return std::make_unique<log_admin>(pool);
}

queue_stats stats_of(bkr::storage::connection_pool& pool, std::string_view queue) {
  return log_admin(pool).stats_of(queue);
}

std::optional<std::string> pending_payload(bkr::storage::unit_of_work& uow, std::string_view queue,
                                           std::string_view message_id) {
  static const std::string name = "bkr_log_pending_payload";
  auto r =
      uow.tx().exec_prepared(uow.prepare(name, log_payload_sql), std::string(queue), std::string(message_id));
  if (r.empty())
    return std::nullopt;
  return r[0][0].as<std::string>();
}

std::set<std::string> pending_keys(bkr::storage::unit_of_work& uow, std::string_view queue,
                                   std::span<const std::string> keys) {
  std::set<std::string> found;
  if (keys.empty())
    return found;
  static const std::string name = "bkr_log_pending_keys";
  for (const auto& row : uow.tx().exec_prepared(uow.prepare(name, log_keys_sql), std::string(queue),
                                                storage::text_array_literal(keys)))
    found.insert(row[0].as<std::string>());
  return found;
}

}  // namespace bkr::messaging::postgres
