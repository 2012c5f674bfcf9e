// Transactional publish: one multi-row INSERT with de-duplication and the NOTIFY in the same statement.
#include "bkr/messaging/postgres/publisher.hpp"

#include "sql.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace bkr::messaging::postgres {
namespace {

const std::string insert_sql = "WITH" + detail::publish_ctes(1) + ",\n" + detail::publish_notify +
                               "\nSELECT q, n, x::text FROM notified";

std::size_t inserted_count(const pqxx::result& r) {
  std::size_t n = 0;
  for (const auto& row : r)
    n += row[1].as<std::size_t>();
  return n;
}

}  // namespace

std::size_t insert_messages(pqxx::transaction_base& tx, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  return inserted_count(tx.exec_params(insert_sql, detail::publish_rows(messages)));
}

std::size_t insert_messages(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  static const std::string name = "bkr_mq_insert_messages";
  return inserted_count(
      uow.tx().exec_prepared(uow.prepare(name, insert_sql), detail::publish_rows(messages)));
}

std::size_t copy_messages(pqxx::transaction_base& tx, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  std::set<std::string> queues;
  {
    pqxx::stream_to out(tx, "mq.messages",
                        std::vector<std::string>{"message_id", "queue", "priority", "type", "schema_version",
                                                 "key", "occurred_at", "trace_id", "producer", "payload"});
    for (const auto& m : messages) {
      detail::validate_outgoing(m);
      if (m.dedup_key)
        throw std::invalid_argument("copy_messages does not de-duplicate; use insert_messages");
      if (m.delay.count() != 0)
        throw std::invalid_argument("copy_messages does not delay; use insert_messages");
      const auto& e = m.message;
      out << std::make_tuple(e.message_id, m.queue, m.priority, e.type, e.schema_version, e.key,
                             format_timestamp(e.occurred_at), e.trace_id, e.producer, e.payload.dump());
      queues.insert(m.queue);
    }
    out.complete();
  }
  for (const auto& q : queues)
    tx.exec_params("SELECT pg_notify('bkr_mq', $1)::text", q);
  return messages.size();
}

void publisher::publish(outgoing_message message) {
  inserted_ += insert_messages(uow_, std::span<const outgoing_message>(&message, 1));
}

void publisher::publish_many(std::vector<outgoing_message> messages) {
  inserted_ += insert_messages(uow_, messages);
}

}  // namespace bkr::messaging::postgres
