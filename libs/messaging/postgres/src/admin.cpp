// Admin operations on the mq schema, each in one short transaction.
#include "bkr/messaging/postgres/admin.hpp"

#include "bkr/common/ids.hpp"
#include "sql.hpp"

namespace bkr::messaging::postgres {
namespace {

constexpr const char* stats_sql = R"sql(
WITH q AS (
  SELECT DISTINCT queue FROM mq.messages UNION SELECT queue FROM mq.dead_letters
  UNION SELECT queue FROM mq.counters UNION SELECT queue FROM mq.queues),
m AS (
  SELECT queue,
    count(*) FILTER (WHERE leased_until IS NULL AND run_at <= now()) AS ready,
    count(*) FILTER (WHERE leased_until IS NOT NULL) AS leased,
    count(*) FILTER (WHERE leased_until IS NULL AND run_at > now()) AS delayed,
    (extract(epoch from now() - min(run_at) FILTER (WHERE leased_until IS NULL AND run_at <= now())) * 1000)::bigint
      AS oldest
  FROM mq.messages GROUP BY queue),
d AS (SELECT queue, count(*) AS dead FROM mq.dead_letters GROUP BY queue),
c AS (SELECT queue, sum(processed) AS p, sum(retried) AS r, sum(dead_lettered) AS dl FROM mq.counters GROUP BY queue)
SELECT q.queue, coalesce(m.ready, 0), coalesce(m.leased, 0), coalesce(m.delayed, 0), coalesce(d.dead, 0), m.oldest,
       coalesce(c.p, 0), coalesce(c.r, 0), coalesce(c.dl, 0), coalesce(qq.paused, false)
FROM q LEFT JOIN m USING (queue) LEFT JOIN d USING (queue) LEFT JOIN c USING (queue)
       LEFT JOIN mq.queues qq USING (queue)
ORDER BY q.queue
)sql";

// One queue: the ready/delayed counts come from the partial index on unleased messages, the leased count
// from the one on leased messages.
constexpr const char* stats_of_sql = R"sql(
WITH u AS (
  SELECT count(*) FILTER (WHERE run_at <= now()) AS ready, count(*) FILTER (WHERE run_at > now()) AS delayed,
    (extract(epoch from now() - min(run_at) FILTER (WHERE run_at <= now())) * 1000)::bigint AS oldest
  FROM mq.messages WHERE queue = $1 AND leased_until IS NULL),
c AS (SELECT sum(processed) AS p, sum(retried) AS r, sum(dead_lettered) AS dl FROM mq.counters WHERE queue = $1)
SELECT u.ready, (SELECT count(*) FROM mq.messages WHERE queue = $1 AND leased_until IS NOT NULL), u.delayed,
  (SELECT count(*) FROM mq.dead_letters WHERE queue = $1), u.oldest, coalesce(c.p, 0), coalesce(c.r, 0),
  coalesce(c.dl, 0), coalesce((SELECT paused FROM mq.queues WHERE queue = $1), false)
FROM u, c
)sql";

constexpr const char* dead_letter_select =
    "SELECT m.queue, m.priority, m.attempts, m.reason, m.last_error, "
    "(extract(epoch from m.first_seen) * 1000)::bigint, (extract(epoch from m.last_seen) * 1000)::bigint, ";

dead_letter dead_letter_from_row(const pqxx::row& row) {
  dead_letter d;
  d.queue = row[0].as<std::string>();
  d.priority = row[1].as<int>();
  int attempts = row[2].as<int>();
  d.reason = row[3].as<std::string>();
  d.last_error = row[4].as<std::string>();
  d.first_seen = detail::epoch_ms(row[5]);
  d.last_seen = detail::epoch_ms(row[6]);
  // A payload the parser refuses is what got it dead-lettered: show its text rather than fail the listing.
  std::string unreadable;
  d.message = detail::envelope_from_row(row, 7, &unreadable);
  d.message.attempt = attempts;
  return d;
}

constexpr const char* redrive_sql = R"sql(
WITH d AS (DELETE FROM mq.dead_letters WHERE message_id = ANY($1::uuid[]) RETURNING *),
ins AS (
  INSERT INTO mq.messages (message_id, queue, priority, type, schema_version, key, occurred_at, trace_id,
                           producer, payload, dedup_key, enqueued_at, last_error)
  SELECT message_id, queue, priority, type, schema_version, key, occurred_at, trace_id, producer, payload,
         dedup_key, first_seen, last_error FROM d
  ON CONFLICT (message_id) DO NOTHING
  RETURNING queue)
SELECT s.q, s.n, pg_notify('bkr_mq', s.q)::text FROM (SELECT queue AS q, count(*) AS n FROM ins GROUP BY queue) s
)sql";

std::size_t sum_column(const pqxx::result& r, int col) {
  std::size_t n = 0;
  for (const auto& row : r)
    n += row[col].as<std::size_t>();
  return n;
}

}  // namespace

std::vector<queue_stats> admin::stats() {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::vector<queue_stats> out;
  for (const auto& row : tx.exec(stats_sql)) {
    queue_stats s;
    s.queue = row[0].as<std::string>();
    s.ready = row[1].as<std::uint64_t>();
    s.leased = row[2].as<std::uint64_t>();
    s.delayed = row[3].as<std::uint64_t>();
    s.dead = row[4].as<std::uint64_t>();
    if (!row[5].is_null())
      s.oldest_ready_age = std::chrono::milliseconds{row[5].as<long long>()};
    s.processed = row[6].as<std::uint64_t>();
    s.retried = row[7].as<std::uint64_t>();
    s.dead_lettered = row[8].as<std::uint64_t>();
    s.paused = row[9].as<bool>();
    out.push_back(std::move(s));
  }
  return out;
}

queue_stats admin::stats_of(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  const auto rows = tx.exec_params(stats_of_sql, std::string(queue));
  const auto row = rows[0];
  queue_stats s;
  s.queue = std::string(queue);
  s.ready = row[0].as<std::uint64_t>();
  s.leased = row[1].as<std::uint64_t>();
  s.delayed = row[2].as<std::uint64_t>();
  s.dead = row[3].as<std::uint64_t>();
  if (!row[4].is_null())
    s.oldest_ready_age = std::chrono::milliseconds{row[4].as<long long>()};
  s.processed = row[5].as<std::uint64_t>();
  s.retried = row[6].as<std::uint64_t>();
  s.dead_lettered = row[7].as<std::uint64_t>();
  s.paused = row[8].as<bool>();
  return s;
}

std::vector<waiting_message> admin::peek(std::string_view queue, std::size_t limit) {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  const std::string sql =
      std::string(
          "SELECT m.attempt, (extract(epoch from m.enqueued_at) * 1000)::bigint, "
          "(extract(epoch from m.run_at) * 1000)::bigint, m.run_at > m.enqueued_at, "
          "coalesce(m.last_error, ''), ") +
      detail::envelope_columns +
      " FROM mq.messages m WHERE m.queue = $1 ORDER BY m.enqueued_at, m.message_id LIMIT $2";
  std::vector<waiting_message> out;
  for (const auto& row : tx.exec_params(sql, std::string(queue), static_cast<long long>(limit)))
    out.push_back(detail::waiting_from_row(row, std::string(queue)));
  return out;
}

std::vector<dead_letter> admin::list_dead_letters(std::optional<std::string> queue, std::size_t limit) {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::string sql = std::string(dead_letter_select) + detail::envelope_columns +
                    " FROM mq.dead_letters m WHERE ($1 = '' OR m.queue = $1) "
                    "ORDER BY m.last_seen DESC, m.message_id DESC LIMIT $2";
  std::vector<dead_letter> out;
  for (const auto& row : tx.exec_params(sql, queue.value_or(""), static_cast<long long>(limit)))
    out.push_back(dead_letter_from_row(row));
  return out;
}

result<dead_letter> admin::show_dead_letter(std::string_view message_id) {
  if (!is_uuid(message_id))
    return bkr::error{errc::invalid_argument, "not a message id: " + std::string(message_id)};
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::string sql = std::string(dead_letter_select) + detail::envelope_columns +
                    " FROM mq.dead_letters m WHERE m.message_id = $1::uuid";
  auto r = tx.exec_params(sql, std::string(message_id));
  if (r.empty())
    return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
  return dead_letter_from_row(r[0]);
}

result<void> admin::redrive(std::string_view message_id) {
  if (!is_uuid(message_id))
    return bkr::error{errc::invalid_argument, "not a message id: " + std::string(message_id)};
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  auto r = tx.exec_params(redrive_sql, detail::uuid_array({std::string(message_id)}));
  if (sum_column(r, 1) == 0)
    return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
  tx.commit();
  return {};
}

std::size_t admin::redrive_all(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  std::vector<std::string> ids;
  for (const auto& row : tx.exec_params(
           "SELECT message_id::text FROM mq.dead_letters WHERE queue = $1 FOR UPDATE", std::string(queue)))
    ids.push_back(row[0].as<std::string>());
  if (ids.empty())
    return 0;
  auto n = sum_column(tx.exec_params(redrive_sql, detail::uuid_array(ids)), 1);
  tx.commit();
  return n;
}

std::size_t admin::purge_dead_letters(std::optional<std::string> queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  auto r = tx.exec_params("DELETE FROM mq.dead_letters WHERE $1 = '' OR queue = $1", queue.value_or(""));
  tx.commit();
  return r.affected_rows();
}

std::size_t admin::purge_queue(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  // Rows locked by a settling consumer are skipped: they are leased, and their consumer decides.
  auto r = tx.exec_params(
      "DELETE FROM mq.messages WHERE message_id IN (SELECT message_id FROM mq.messages "
      "WHERE queue = $1 AND leased_until IS NULL FOR UPDATE SKIP LOCKED)",
      std::string(queue));
  tx.commit();
  return r.affected_rows();
}

void admin::pause(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  tx.exec_params(
      "INSERT INTO mq.queues (queue, paused) VALUES ($1, true) "
      "ON CONFLICT (queue) DO UPDATE SET paused = true, updated_at = now()",
      std::string(queue));
  tx.commit();
}

void admin::resume(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  tx.exec_params(
      "INSERT INTO mq.queues (queue, paused) VALUES ($1, false) "
      "ON CONFLICT (queue) DO UPDATE SET paused = false, updated_at = now()",
      std::string(queue));
  tx.exec_params("SELECT pg_notify('bkr_mq', $1)::text", std::string(queue));
  tx.commit();
}

}  // namespace bkr::messaging::postgres
