// Admin operations over the log: stats with lag, peek, dead letters, redrive into the delay lane, purge (the
// cursors moved to the head), pause/resume. Each runs in one short transaction on a pooled connection.
#include "bkr/common/ids.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "log_sql.hpp"
#include "sql.hpp"

#include <chrono>
#include <thread>

namespace bkr::messaging::postgres {
namespace {

// Every queue the backend knows of. Queues of the log are found with one index probe per queue (a loose
// index scan), not by reading the log.
constexpr const char* queues_sql = R"sql(
WITH RECURSIVE lq AS (
  SELECT min(queue) AS queue FROM mq.log
  UNION ALL
  SELECT (SELECT min(queue) FROM mq.log WHERE queue > lq.queue) FROM lq WHERE lq.queue IS NOT NULL)
SELECT queue FROM lq WHERE queue IS NOT NULL
UNION SELECT queue FROM mq.cursors UNION SELECT queue FROM mq.delayed UNION SELECT queue FROM mq.dead_letters
UNION SELECT queue FROM mq.counters UNION SELECT queue FROM mq.queues UNION SELECT queue FROM mq.log_queues
ORDER BY 1
)sql";

// Per partition of one queue (`lag`): the committed rows after its cursor (all rows where it has none),
// counted up to $2 (NULL: all), how many of them the safe watermark still holds back, the oldest of them (the
// first after the cursor, one index probe), and what the cursor has passed. Counting is a range scan of the
// position index, so the cap keeps a deep backlog from costing a worker's gauges its depth.
const std::string lag_ctes = R"sql(
w AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x),
)sql" + log_sql::partitions_cte +
                             R"sql(,
pc AS (
  SELECT p.part, coalesce(c.tx, '0'::xid8) AS ctx, coalesce(c.seq, 0) AS cseq, coalesce(c.processed, 0) AS processed
  FROM p LEFT JOIN mq.cursors c ON c.queue = $1 AND c.part = p.part),
lag AS (
  SELECT pc.part, pc.processed, n.ready, n.held, f.enqueued_at AS oldest
  FROM pc CROSS JOIN w
  CROSS JOIN LATERAL (
    SELECT count(*) AS ready, count(*) FILTER (WHERE m.tx >= w.x) AS held
    FROM (SELECT m.tx FROM mq.log m WHERE m.queue = $1 AND m.part = pc.part AND (m.tx, m.seq) > (pc.ctx, pc.cseq)
          LIMIT $2) m) n
  LEFT JOIN LATERAL (
    SELECT m.enqueued_at FROM mq.log m WHERE m.queue = $1 AND m.part = pc.part AND (m.tx, m.seq) > (pc.ctx, pc.cseq)
    ORDER BY m.tx, m.seq LIMIT 1) f ON true))sql";

// One queue: the partitions' lag summed, the delay lane, dead letters, counters.
const std::string stats_sql = "WITH " + lag_ctes + R"sql(,
l AS (SELECT sum(ready) AS ready, sum(held) AS held, bool_or(ready >= $2) AS capped, min(oldest) AS oldest
      FROM lag),
d AS (
  SELECT count(*) FILTER (WHERE run_at <= now()) AS due, count(*) FILTER (WHERE run_at > now()) AS later,
         min(run_at) FILTER (WHERE run_at <= now()) AS oldest
  FROM mq.delayed WHERE queue = $1),
k AS (SELECT sum(processed) AS p, sum(retried) AS r, sum(dead_lettered) AS dl FROM mq.counters WHERE queue = $1)
SELECT l.ready + d.due, d.later, (SELECT count(*) FROM mq.dead_letters WHERE queue = $1),
       (extract(epoch from now() - least(l.oldest, d.oldest)) * 1000)::bigint,
       coalesce((SELECT sum(processed) FROM mq.cursors WHERE queue = $1), 0) + coalesce(k.p, 0),
       coalesce(k.r, 0), coalesce(k.dl, 0), coalesce((SELECT paused FROM mq.queues WHERE queue = $1), false),
       l.held, coalesce(l.capped, false)
FROM l, d, k
)sql";

// Each partition's lag with its delay-lane rows.
const std::string partitions_sql = "WITH " + lag_ctes + R"sql(
SELECT part, ready, ready >= $2, held, (extract(epoch from now() - oldest) * 1000)::bigint,
       (SELECT count(*) FROM mq.delayed d WHERE d.queue = $1 AND d.part = lag.part), processed
FROM lag ORDER BY part
)sql";

constexpr const char* dead_letter_select =
    "SELECT m.queue, m.attempts, m.reason, m.last_error, "
    "(extract(epoch from m.first_seen) * 1000)::bigint, (extract(epoch from m.last_seen) * 1000)::bigint, ";

dead_letter dead_letter_from_row(const pqxx::row& row) {
  dead_letter d;
  d.queue = row[0].as<std::string>();
  const int attempts = row[1].as<int>();
  d.reason = row[2].as<std::string>();
  d.last_error = row[3].as<std::string>();
  d.first_seen = detail::epoch_ms(row[4]);
  d.last_seen = detail::epoch_ms(row[5]);
  // A payload the parser refuses is what got it dead-lettered: show its text rather than fail the listing.
  std::string unreadable;
  d.message = detail::envelope_from_row(row, 6, &unreadable);
  d.message.attempt = attempts;
  return d;
}

constexpr const char* redrive_sql = R"sql(
WITH d AS (DELETE FROM mq.dead_letters WHERE message_id = ANY($1::uuid[]) RETURNING *),
ins AS (
  INSERT INTO mq.delayed (queue, part, run_at, attempts, message_id, type, schema_version, key, occurred_at,
                          trace_id, producer, payload, first_seen, last_error)
  SELECT queue, mod(hashtext(key)::bigint + 2147483648,
                    coalesce((SELECT lq.partitions FROM mq.log_queues lq WHERE lq.queue = d.queue), 1))::smallint,
         now(), 0, message_id, type, schema_version, key, occurred_at, trace_id, producer, payload, first_seen,
         last_error
  FROM d RETURNING queue)
SELECT s.q, s.n, pg_notify(mq.channel(s.q), '')::text FROM (SELECT queue AS q, count(*) AS n FROM ins GROUP BY queue) s
)sql";

// Moves every cursor of the queue to the last row below the watermark (creating cursors where none exist).
const std::string skip_sql = R"sql(
WITH w AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x),
)sql" + log_sql::partitions_cte +
                             R"sql(,
head AS (
  SELECT p.part, h.tx, h.seq FROM p CROSS JOIN w CROSS JOIN LATERAL (
    SELECT m.tx, m.seq FROM mq.log m WHERE m.queue = $1 AND m.part = p.part AND m.tx < w.x
    ORDER BY m.tx DESC, m.seq DESC LIMIT 1) h)
INSERT INTO mq.cursors AS c (queue, part, tx, seq) SELECT $1, part, tx, seq FROM head
ON CONFLICT (queue, part) DO UPDATE SET tx = excluded.tx, seq = excluded.seq, moved_at = now()
WHERE (c.tx, c.seq) < (excluded.tx, excluded.seq)
)sql";

// Messages not consumed yet: per partition the log rows after its cursor, and the delay lane.
const std::string peek_sql = "WITH " + log_sql::partitions_cte + R"sql(,
l AS (
  SELECT m.message_id, m.type, m.schema_version, m.key, m.occurred_at, m.trace_id, m.producer, m.payload,
         0 AS attempts, m.enqueued_at, m.enqueued_at AS run_at, false AS delayed, '' AS last_error, m.tx, m.seq
  FROM p LEFT JOIN mq.cursors c ON c.queue = $1 AND c.part = p.part
  JOIN LATERAL (SELECT * FROM mq.log m WHERE m.queue = $1 AND m.part = p.part
                  AND (m.tx, m.seq) > (coalesce(c.tx, '0'::xid8), coalesce(c.seq, 0))
                ORDER BY m.tx, m.seq LIMIT $2) m ON true),
d AS (
  SELECT message_id, type, schema_version, key, occurred_at, trace_id, producer, payload, attempts,
         first_seen, run_at, true, last_error, NULL::xid8, id
  FROM mq.delayed WHERE queue = $1 ORDER BY id LIMIT $2)
SELECT m.attempts, (extract(epoch from m.enqueued_at) * 1000)::bigint,
       (extract(epoch from m.run_at) * 1000)::bigint, m.delayed, m.last_error, )sql" +
                             detail::envelope_columns + R"sql(
FROM (SELECT * FROM l UNION ALL SELECT * FROM d) m
ORDER BY m.enqueued_at, m.delayed, m.tx, m.seq LIMIT $2
)sql";

// The newest transaction id among the committed rows of the queue's partitions (NULL when empty).
const std::string head_tx_sql = R"sql(
WITH )sql" + log_sql::partitions_cte +
                                R"sql(
SELECT max(h.tx)::text FROM p CROSS JOIN LATERAL (
  SELECT m.tx FROM mq.log m WHERE m.queue = $1 AND m.part = p.part ORDER BY m.tx DESC, m.seq DESC LIMIT 1) h
)sql";

// Waits (at most a few seconds) until the safe watermark has passed every row of `queue` committed so far,
// so that a purge skips all of them even while a transaction elsewhere in the cluster holds it back.
void wait_for_watermark(pqxx::connection& conn, const std::string& queue) {
  pqxx::nontransaction nt(conn);
  const auto head = nt.exec_params1(head_tx_sql, queue)[0];
  if (head.is_null())
    return;
  const std::string tx = head.as<std::string>();
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{5};
  while (!nt.exec_params1("SELECT pg_snapshot_xmin(pg_current_snapshot()) > $1::xid8", tx)[0].as<bool>() &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
}

std::size_t sum_column(const pqxx::result& r, int col) {
  std::size_t n = 0;
  for (const auto& row : r)
    n += row[col].as<std::size_t>();
  return n;
}

/// Backlog rows counted per partition for stats() and stats_of(); beyond it `ready` is a lower bound.
constexpr long long count_cap = 10000;

/// `cap`: rows counted per partition (nullopt: all of them).
queue_stats stats_in(pqxx::transaction_base& tx, const std::string& queue,
                     std::optional<long long> cap = count_cap) {
  const auto row = tx.exec_params1(stats_sql, queue, cap);
  queue_stats s;
  s.queue = queue;
  s.ready = row[0].as<std::uint64_t>();
  s.delayed = row[1].as<std::uint64_t>();
  s.dead = row[2].as<std::uint64_t>();
  if (!row[3].is_null())
    s.oldest_ready_age = std::chrono::milliseconds{row[3].as<long long>()};
  s.processed = row[4].as<std::uint64_t>();
  s.retried = row[5].as<std::uint64_t>();
  s.dead_lettered = row[6].as<std::uint64_t>();
  s.paused = row[7].as<bool>();
  s.held_back = row[8].as<std::uint64_t>();
  s.ready_capped = row[9].as<bool>();
  return s;
}

}  // namespace

std::vector<queue_stats> log_admin::stats() {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::vector<queue_stats> out;
  for (const auto& row : tx.exec(queues_sql))
    out.push_back(stats_in(tx, row[0].as<std::string>()));
  return out;
}

queue_stats log_admin::stats_of(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  return stats_in(tx, std::string(queue));
}

std::vector<waiting_message> log_admin::peek(std::string_view queue, std::size_t limit) {
  if (!is_valid_queue_name(queue))
    return {};
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  std::vector<waiting_message> out;
  for (const auto& row : tx.exec_params(peek_sql, std::string(queue), static_cast<long long>(limit)))
    out.push_back(detail::waiting_from_row(row, std::string(queue)));
  return out;
}

std::vector<dead_letter> log_admin::list_dead_letters(std::optional<std::string> queue, std::size_t limit) {
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  const std::string sql = std::string(dead_letter_select) + detail::envelope_columns +
                          " FROM mq.dead_letters m WHERE ($1 = '' OR m.queue = $1) "
                          "ORDER BY m.last_seen DESC, m.message_id DESC LIMIT $2";
  std::vector<dead_letter> out;
  for (const auto& row : tx.exec_params(sql, queue.value_or(""), static_cast<long long>(limit)))
    out.push_back(dead_letter_from_row(row));
  return out;
}

result<dead_letter> log_admin::show_dead_letter(std::string_view message_id) {
  if (!is_uuid(message_id))
    return bkr::error{errc::invalid_argument, "not a message id: " + std::string(message_id)};
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  const std::string sql = std::string(dead_letter_select) + detail::envelope_columns +
                          " FROM mq.dead_letters m WHERE m.message_id = $1::uuid";
  auto r = tx.exec_params(sql, std::string(message_id));
  if (r.empty())
    return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
  return dead_letter_from_row(r[0]);
}

result<void> log_admin::redrive(std::string_view message_id) {
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

std::size_t log_admin::redrive_all(std::string_view queue) {
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

std::size_t log_admin::purge_dead_letters(std::optional<std::string> queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  auto r = tx.exec_params("DELETE FROM mq.dead_letters WHERE $1 = '' OR queue = $1", queue.value_or(""));
  tx.commit();
  return r.affected_rows();
}

std::size_t log_admin::purge_queue(std::string_view queue) {
  if (!is_valid_queue_name(queue))
    return 0;
  const std::string q(queue);
  auto lease = pool_.acquire();
  wait_for_watermark(lease.conn(), q);
  pqxx::work tx(lease.conn());
  // What the cursors skip (the ready rows of the log), then the skip itself: a consumer mid-batch holds its
  // cursor locked, so this waits for that batch, and the rows it settled are not counted twice.
  tx.exec_params("SELECT 1 FROM mq.cursors WHERE queue = $1 ORDER BY part FOR UPDATE", q);
  const auto before = stats_in(tx, q, std::nullopt);  // the exact count: what the skip drops
  const auto lane_due =
      tx.exec_params1("SELECT count(*) FROM mq.delayed WHERE queue = $1 AND run_at <= now()", q)[0]
          .as<std::uint64_t>();
  tx.exec_params(skip_sql, q);
  const auto lane = tx.exec_params("DELETE FROM mq.delayed WHERE queue = $1", q).affected_rows();
  tx.commit();
  return static_cast<std::size_t>(before.ready - before.held_back - lane_due) + lane;
}

void log_admin::pause(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  tx.exec_params(
      "INSERT INTO mq.queues (queue, paused) VALUES ($1, true) "
      "ON CONFLICT (queue) DO UPDATE SET paused = true, updated_at = now()",
      std::string(queue));
  tx.commit();
}

void log_admin::resume(std::string_view queue) {
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  tx.exec_params(
      "INSERT INTO mq.queues (queue, paused) VALUES ($1, false) "
      "ON CONFLICT (queue) DO UPDATE SET paused = false, updated_at = now()",
      std::string(queue));
  tx.commit();
  ring_doorbells(lease.conn(), {std::string(queue)});
}

std::vector<partition_stats> log_admin::partitions_of(std::string_view queue) {
  std::vector<partition_stats> out;
  if (!is_valid_queue_name(queue))
    return out;
  auto lease = pool_.acquire();
  pqxx::read_transaction tx(lease.conn());
  for (const auto& row : tx.exec_params(partitions_sql, std::string(queue), count_cap)) {
    partition_stats p;
    p.partition = row[0].as<int>();
    p.lag = row[1].as<std::uint64_t>();
    p.lag_capped = row[2].as<bool>();
    p.held_back = row[3].as<std::uint64_t>();
    if (!row[4].is_null())
      p.lag_age = std::chrono::milliseconds{row[4].as<long long>()};
    p.delayed = row[5].as<std::uint64_t>();
    p.processed = row[6].as<std::uint64_t>();
    out.push_back(p);
  }
  return out;
}

result<void> log_admin::set_partitions(std::string_view queue, int partitions) {
  if (!is_valid_queue_name(queue))
    return bkr::error{errc::invalid_argument, "invalid queue name: " + std::string(queue)};
  if (partitions < 1 || partitions > 256)
    return bkr::error{errc::invalid_argument,
                      "partitions must be between 1 and 256, got " + std::to_string(partitions)};
  auto lease = pool_.acquire();
  pqxx::work tx(lease.conn());
  auto r = tx.exec_params(
      "INSERT INTO mq.log_queues AS l (queue, partitions) VALUES ($1, $2) ON CONFLICT (queue) DO UPDATE "
      "SET partitions = excluded.partitions, updated_at = now() WHERE l.partitions <= excluded.partitions "
      "RETURNING partitions",
      std::string(queue), partitions);
  if (r.empty())
    return bkr::error{errc::invalid_argument, "the partitions of " + std::string(queue) +
                                                  " may only grow (rows stay where they are)"};
  tx.commit();
  return {};
}

}  // namespace bkr::messaging::postgres
