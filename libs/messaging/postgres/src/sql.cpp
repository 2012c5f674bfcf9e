// Row mapping helpers of the Postgres backend.
#include "sql.hpp"

#include <algorithm>
#include <stdexcept>

namespace bkr::messaging::postgres::detail {

std::string publish_ctes(int param) {
  // Rows arrive as one JSON array parameter; json_to_recordset turns it into typed columns.
  return R"sql(
input AS (
  SELECT * FROM json_to_recordset($)sql" +
         std::to_string(param) + R"sql(::json) AS x(id uuid, q text, t text, v int, k text, o timestamptz,
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
  RETURNING queue))sql";
}

void validate_outgoing(const outgoing_message& m) {
  if (!is_valid_queue_name(m.queue))
    throw std::invalid_argument("invalid queue name: " + m.queue);
  if (m.message.message_id.empty() || m.message.type.empty())
    throw std::invalid_argument("message id and type are required");
}

std::string publish_rows(std::span<const outgoing_message> messages) {
  std::vector<const outgoing_message*> order;
  order.reserve(messages.size());
  for (const auto& m : messages) {
    validate_outgoing(m);
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

std::string uuid_array(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0)
      out += ',';
    out += ids[i];
  }
  out += '}';
  return out;
}

timestamp epoch_ms(const pqxx::field& f) {
  return timestamp{std::chrono::milliseconds{f.as<long long>()}};
}

envelope envelope_from_row(const pqxx::row& row, int first, std::string* payload_error) {
  envelope e;
  e.message_id = row[first].as<std::string>();
  e.type = row[first + 1].as<std::string>();
  e.schema_version = row[first + 2].as<int>();
  e.key = row[first + 3].as<std::string>();
  e.occurred_at = epoch_ms(row[first + 4]);
  e.trace_id = row[first + 5].as<std::string>();
  e.producer = row[first + 6].as<std::string>();
  const char* payload = row[first + 7].c_str();
  if (payload_error == nullptr) {
    e.payload = nlohmann::json::parse(payload);
    return e;
  }
  try {
    e.payload = nlohmann::json::parse(payload);
  } catch (const nlohmann::json::exception& error) {
    *payload_error = error.what();
    e.payload = payload;
  }
  return e;
}

waiting_message waiting_from_row(const pqxx::row& row, std::string queue) {
  waiting_message w;
  w.queue = std::move(queue);
  std::string unreadable;
  w.message = envelope_from_row(row, 5, &unreadable);
  w.message.attempt = row[0].as<int>();
  w.enqueued_at = epoch_ms(row[1]);
  w.run_at = epoch_ms(row[2]);
  w.delayed = row[3].as<bool>();
  w.last_error = row[4].as<std::string>();
  return w;
}

}  // namespace bkr::messaging::postgres::detail
