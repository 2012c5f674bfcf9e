// Transactional publish: one multi-row INSERT with de-duplication and the NOTIFY in the same statement.
#include "bkr/messaging/postgres/publisher.hpp"

#include <algorithm>
#include <set>
#include <stdexcept>

namespace bkr::messaging::postgres {
namespace {

// Rows arrive as one JSON array parameter; json_to_recordset turns it into typed columns.
constexpr const char* insert_sql = R"sql(
WITH input AS (
  SELECT * FROM json_to_recordset($1::json) AS x(id uuid, q text, t text, v int, k text, o timestamptz,
    tr text, p text, pl json, pr smallint, d bigint, dk text)),
fresh AS (
  INSERT INTO mq.dedup_keys (queue, dedup_key)
  SELECT DISTINCT q, dk FROM input WHERE dk IS NOT NULL
  ON CONFLICT DO NOTHING
  RETURNING queue, dedup_key),
chosen AS (
  (SELECT DISTINCT ON (i.q, i.dk) i.* FROM input i JOIN fresh f ON f.queue = i.q AND f.dedup_key = i.dk
   ORDER BY i.q, i.dk)
  UNION ALL
  (SELECT * FROM input WHERE dk IS NULL)),
ins AS (
  INSERT INTO mq.messages (message_id, queue, priority, run_at, type, schema_version, key, occurred_at,
                           trace_id, producer, payload, dedup_key)
  SELECT id, q, pr, now() + d * interval '1 millisecond', t, v, k, o, tr, p, pl, dk FROM chosen
  ON CONFLICT (message_id) DO NOTHING
  RETURNING queue)
SELECT s.q, s.n, pg_notify('bkr_mq', s.q)::text FROM (SELECT queue AS q, count(*) AS n FROM ins GROUP BY queue) s
)sql";

void validate(const outgoing_message& m) {
  if (!is_valid_queue_name(m.queue))
    throw std::invalid_argument("invalid queue name: " + m.queue);
  if (m.message.message_id.empty() || m.message.type.empty())
    throw std::invalid_argument("message id and type are required");
}

// The JSON rows of `messages`, sorted by dedup key so that concurrent publishers take key locks in one
// order (no deadlock).
std::string insert_rows(std::span<const outgoing_message> messages) {
  std::vector<const outgoing_message*> order;
  order.reserve(messages.size());
  for (const auto& m : messages) {
    validate(m);
    order.push_back(&m);
  }
  std::stable_sort(order.begin(), order.end(), [](const outgoing_message* a, const outgoing_message* b) {
    return std::tie(a->queue, a->dedup_key) < std::tie(b->queue, b->dedup_key);
  });
  nlohmann::json rows = nlohmann::json::array();
  for (const auto* m : order) {
    const auto& e = m->message;
    rows.push_back({{"id", e.message_id},
                    {"q", m->queue},
                    {"t", e.type},
                    {"v", e.schema_version},
                    {"k", e.key},
                    {"o", format_timestamp(e.occurred_at)},
                    {"tr", e.trace_id},
                    {"p", e.producer},
                    {"pl", e.payload},
                    {"pr", m->priority},
                    {"d", std::max<long long>(0, m->delay.count())},
                    {"dk", m->dedup_key ? nlohmann::json(*m->dedup_key) : nlohmann::json(nullptr)}});
  }
  return rows.dump();
}

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
  return inserted_count(tx.exec_params(insert_sql, insert_rows(messages)));
}

std::size_t insert_messages(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  static const std::string name = "bkr_mq_insert_messages", sql = insert_sql;
  return inserted_count(uow.tx().exec_prepared(uow.prepare(name, sql), insert_rows(messages)));
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
      validate(m);
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
