// The log consumer: read after the cursors below the safe watermark (one autocommit statement), prepare
// outside any transaction, then one transaction that locks the cursors under their old positions, runs
// the handlers, and moves the cursors, the delay lane, dead letters and the next messages together.
#include "bkr/messaging/postgres/log.hpp"

#include "batch_context.hpp"
#include "log_owner.hpp"
#include "log_sql.hpp"
#include "sql.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <set>

namespace bkr::messaging::postgres {

/// One delivery of a batch and where it came from: a log row (part, tx, seq) or a delay-lane row.
struct log_consumer::item {
  delivery d;
  int part = 0;
  std::string tx;  ///< log rows: the inserting transaction id (xid8 text)
  std::uint64_t txv = 0;
  long long seq = 0;
  long long lane_id = 0;  ///< delay-lane rows: their id (0 for log rows)
  std::string unreadable;
  bool from_lane() const { return lane_id != 0; }
};

namespace {

// The batch: per owned partition (with its own limit) the log rows after the cursor whose transaction id is
// below the oldest one still running, then the due rows of the delay lane. A paused queue yields nothing.
const std::string read_sql = std::string(R"sql(
WITH o AS (SELECT * FROM unnest($2::smallint[], $3::int[]) AS o(part, lim)),
run AS (SELECT NOT EXISTS (SELECT 1 FROM mq.queues q WHERE q.queue = $1 AND q.paused) AS yes),
w AS (SELECT pg_snapshot_xmin(pg_current_snapshot()) AS x),
c AS (SELECT c.part, c.tx, c.seq, o.lim FROM mq.cursors c JOIN o ON o.part = c.part, run
      WHERE c.queue = $1 AND run.yes)
SELECT 0::bigint, m.part, m.tx::text, m.seq, 0, c.tx::text, c.seq, )sql") +
                             detail::envelope_columns + R"sql(
FROM c CROSS JOIN w CROSS JOIN LATERAL (
  SELECT * FROM mq.log m WHERE m.queue = $1 AND m.part = c.part AND (m.tx, m.seq) > (c.tx, c.seq) AND m.tx < w.x
  ORDER BY m.tx, m.seq LIMIT c.lim) m
UNION ALL
SELECT m.id, m.part, '0', 0, m.attempts, '0', 0, )sql" +
                             detail::envelope_columns +
                             R"sql(
FROM (SELECT d.* FROM mq.delayed d, run WHERE run.yes AND d.queue = $1 AND d.part = ANY($2::smallint[])
        AND d.run_at <= statement_timestamp()
      ORDER BY d.run_at LIMIT $4) m
)sql";

// When the batch came back empty: how long until the next delay-lane row is due, and whether committed rows
// wait behind the watermark (then poll soon: the transaction holding them back may end without a doorbell).
constexpr const char* idle_sql = R"sql(
SELECT (SELECT (extract(epoch from (min(run_at) - clock_timestamp())) * 1000)::bigint FROM mq.delayed
         WHERE queue = $1 AND part = ANY($2::smallint[])),
       EXISTS (SELECT 1 FROM mq.cursors c WHERE c.queue = $1 AND c.part = ANY($2::smallint[])
                 AND EXISTS (SELECT 1 FROM mq.log m WHERE m.queue = c.queue AND m.part = c.part
                               AND (m.tx, m.seq) > (c.tx, c.seq)))
)sql";

// Careful mode, for partitions just taken: a head row that its consumer may have died on is charged an
// attempt before it runs (committed on its own).
constexpr const char* charge_heads_sql = R"sql(
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE mq.cursors c SET tries = c.tries + 1 FROM cfg
WHERE c.queue = $1 AND c.part = ANY($2::smallint[])
  AND EXISTS (SELECT 1 FROM mq.log m WHERE m.queue = c.queue AND m.part = c.part
                AND (m.tx, m.seq) > (c.tx, c.seq) AND m.tx < pg_snapshot_xmin(pg_current_snapshot()))
RETURNING c.part, c.tries
)sql";

constexpr const char* charge_lane_sql = R"sql(
WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true))
UPDATE mq.delayed d SET attempts = d.attempts + 1 FROM cfg WHERE d.id = ANY($1::bigint[])
RETURNING d.id, d.attempts
)sql";

// A head row whose consumers died on it as often as it may be attempted goes to the dead letters; the
// cursor moves past it.
constexpr const char* bury_head_sql = R"sql(
WITH h AS (
  SELECT m.* FROM mq.cursors c CROSS JOIN LATERAL (
    SELECT * FROM mq.log m WHERE m.queue = c.queue AND m.part = c.part AND (m.tx, m.seq) > (c.tx, c.seq)
      AND m.tx < pg_snapshot_xmin(pg_current_snapshot()) ORDER BY m.tx, m.seq LIMIT 1) m
  WHERE c.queue = $1 AND c.part = $2 FOR UPDATE OF c),
dl AS (
  INSERT INTO mq.dead_letters (message_id, queue, type, schema_version, key, occurred_at, trace_id,
                               producer, payload, attempts, reason, last_error, first_seen, last_seen)
  SELECT message_id, queue, type, schema_version, key, occurred_at, trace_id, producer, payload, $3, $4, $4,
         enqueued_at, clock_timestamp() FROM h
  ON CONFLICT (message_id) DO UPDATE SET attempts = excluded.attempts, reason = excluded.reason,
    last_error = excluded.last_error, last_seen = excluded.last_seen
  RETURNING 1),
cur AS (UPDATE mq.cursors c SET tx = h.tx, seq = h.seq, tries = 0, moved_at = now() FROM h
        WHERE c.queue = $1 AND c.part = $2 RETURNING 1),
ctr AS (
  INSERT INTO mq.counters AS c (queue, consumer, dead_lettered)
  SELECT $1, $5, count(*) FROM dl HAVING count(*) > 0
  ON CONFLICT (queue, consumer) DO UPDATE SET dead_lettered = c.dead_lettered + excluded.dead_lettered,
    updated_at = now()
  RETURNING 1)
SELECT (SELECT count(*) FROM dl), (SELECT count(*) FROM cur), (SELECT count(*) FROM ctr)
)sql";

// The fence: the cursors of the batch's partitions, locked only where they still hold the positions the batch
// was read after, and the batch's delay-lane rows, locked where they still exist. Also bounds how long the
// session may sit idle in this transaction ($1) and sets how it commits ($2).
constexpr const char* lock_sql = R"sql(
WITH cfg AS (SELECT set_config('idle_in_transaction_session_timeout', $1, true) AS a,
                    set_config('synchronous_commit', $2, true) AS b),
c AS (SELECT c.part FROM mq.cursors c
      JOIN unnest($4::smallint[], $5::xid8[], $6::bigint[]) AS x(part, tx, seq)
        ON c.part = x.part AND c.tx = x.tx AND c.seq = x.seq
      WHERE c.queue = $3 FOR UPDATE OF c),
l AS (SELECT d.id FROM mq.delayed d WHERE d.id = ANY($7::bigint[]) FOR UPDATE OF d)
SELECT 'c', part::bigint FROM c UNION ALL SELECT 'l', id FROM l UNION ALL SELECT 'x', 0 FROM cfg
)sql";

// Prepared: a partition stays careful until a head is below the watermark to charge, so a partition that only
// ever receives delay-lane rows runs both charges at every read (planned anew each time, unprepared).
const std::string read_name = "bkr_log_read", idle_name = "bkr_log_idle", lock_name = "bkr_log_lock",
                  charge_heads_name = "bkr_log_charge_heads", charge_lane_name = "bkr_log_charge_lane";

/// Statement names must outlive their use (the pool keeps references); one per settlement shape.
const std::string& settle_name(const std::string& shape) {
  static std::mutex m;
  static std::set<std::string> names;
  std::lock_guard lock(m);
  return *names.insert("bkr_log_settle_" + shape).first;
}

/// Where each settled delivery goes, as the arrays of the settlement statement.
struct settlement {
  // cursor moves, per partition
  std::vector<long long> cur_part, cur_seq, cur_n;
  std::vector<std::string> cur_tx;
  // delay-lane rows committed
  std::vector<std::string> lane_done;
  // log rows retried (copied to the lane)
  std::vector<long long> lr_part, lr_seq, lr_delay, lr_attempts;
  std::vector<std::string> lr_tx, lr_error;
  // lane rows retried again
  std::vector<std::string> rr_id;
  std::vector<long long> rr_delay, rr_attempts;
  std::vector<std::string> rr_error;
  // log rows dead
  std::vector<long long> ld_part, ld_seq, ld_attempts;
  std::vector<std::string> ld_tx, ld_reason, ld_error;
  // lane rows dead
  std::vector<std::string> rd_id;
  std::vector<long long> rd_attempts;
  std::vector<std::string> rd_reason, rd_error;
  long long lane_committed = 0, retried = 0, dead = 0, committed = 0;
  std::vector<outgoing_message> publishes;

  bool empty() const {
    return cur_part.empty() && lane_done.empty() && lr_part.empty() && rr_id.empty() && ld_part.empty() &&
           rd_id.empty() && publishes.empty();
  }
};

constexpr const char* dead_letter_columns =
    "message_id, queue, type, schema_version, key, occurred_at, trace_id, producer, payload, "
    "attempts, reason, last_error, first_seen, last_seen";
constexpr const char* dead_letter_conflict =
    " ON CONFLICT (message_id) DO UPDATE SET attempts = excluded.attempts, reason = excluded.reason, "
    "last_error = excluded.last_error, last_seen = excluded.last_seen RETURNING 1";

/// Builds the settlement statement for the parts `s` has: its SQL (the same for the same parts), shape and
/// parameters.
struct settle_statement {
  std::string sql, shape;
  std::vector<std::string> values;
};

/// With `ring_inside`, the statement also NOTIFYs the queues it publishes to: for a batch whose commit does
/// not wait for a WAL flush, the notification lock is held for no longer than the commit itself, and the
/// doorbell costs no round trip of its own.
settle_statement build_settlement(const settlement& s, const std::string& queue, const std::string& consumer,
                                  bool ring_inside) {
  using log_sql::int_array;
  using log_sql::plain_array;
  log_sql::params p;
  std::vector<std::string> ctes, counted;
  settle_statement out;
  const std::string q = p.add(queue);
  if (!s.cur_part.empty()) {
    ctes.push_back(
        "cur AS (UPDATE mq.cursors c SET tx = x.tx, seq = x.seq, processed = c.processed + x.n, "
        "tries = 0, moved_at = now() FROM unnest(" +
        p.add(int_array(s.cur_part)) + "::smallint[], " + p.add(plain_array(s.cur_tx)) + "::xid8[], " +
        p.add(int_array(s.cur_seq)) + "::bigint[], " + p.add(int_array(s.cur_n)) +
        "::bigint[]) AS x(part, tx, seq, n) WHERE c.queue = " + q + " AND c.part = x.part RETURNING 1)");
    counted.push_back("cur");
    out.shape += 'c';
  }
  if (!s.lane_done.empty()) {
    ctes.push_back("done AS (DELETE FROM mq.delayed WHERE id = ANY(" + p.add(plain_array(s.lane_done)) +
                   "::bigint[]) RETURNING 1)");
    counted.push_back("done");
    out.shape += 'd';
  }
  if (!s.lr_part.empty()) {
    ctes.push_back(
        "lr AS (INSERT INTO mq.delayed (queue, part, run_at, attempts, message_id, type, schema_version, "
        "key, "
        "occurred_at, trace_id, producer, payload, first_seen, last_error) SELECT m.queue, m.part, "
        "clock_timestamp() + x.d * interval '1 millisecond', x.a, m.message_id, m.type, m.schema_version, "
        "m.key, m.occurred_at, m.trace_id, m.producer, m.payload, m.enqueued_at, x.e FROM unnest(" +
        p.add(int_array(s.lr_part)) + "::smallint[], " + p.add(plain_array(s.lr_tx)) + "::xid8[], " +
        p.add(int_array(s.lr_seq)) + "::bigint[], " + p.add(int_array(s.lr_delay)) + "::bigint[], " +
        p.add(int_array(s.lr_attempts)) + "::int[], " + p.add(storage::text_array_literal(s.lr_error)) +
        "::text[]) AS x(part, tx, seq, d, a, e) JOIN mq.log m ON m.queue = " + q +
        " AND m.part = x.part AND m.tx = x.tx AND m.seq = x.seq RETURNING 1)");
    counted.push_back("lr");
    out.shape += 'r';
  }
  if (!s.rr_id.empty()) {
    ctes.push_back(
        "rr AS (UPDATE mq.delayed m SET run_at = clock_timestamp() + x.d * interval '1 millisecond', "
        "attempts = x.a, last_error = x.e FROM unnest(" +
        p.add(plain_array(s.rr_id)) + "::bigint[], " + p.add(int_array(s.rr_delay)) + "::bigint[], " +
        p.add(int_array(s.rr_attempts)) + "::int[], " + p.add(storage::text_array_literal(s.rr_error)) +
        "::text[]) AS x(id, d, a, e) WHERE m.id = x.id RETURNING 1)");
    counted.push_back("rr");
    out.shape += 'R';
  }
  if (!s.ld_part.empty()) {
    ctes.push_back(std::string("ld AS (INSERT INTO mq.dead_letters (") + dead_letter_columns +
                   ") SELECT m.message_id, m.queue, m.type, m.schema_version, m.key, m.occurred_at, "
                   "m.trace_id, m.producer, m.payload, x.a, x.r, x.e, m.enqueued_at, clock_timestamp() FROM "
                   "unnest(" +
                   p.add(int_array(s.ld_part)) + "::smallint[], " + p.add(plain_array(s.ld_tx)) +
                   "::xid8[], " + p.add(int_array(s.ld_seq)) + "::bigint[], " +
                   p.add(int_array(s.ld_attempts)) + "::int[], " +
                   p.add(storage::text_array_literal(s.ld_reason)) + "::text[], " +
                   p.add(storage::text_array_literal(s.ld_error)) +
                   "::text[]) AS x(part, tx, seq, a, r, e) JOIN mq.log m ON m.queue = " + q +
                   " AND m.part = x.part AND m.tx = x.tx AND m.seq = x.seq" + dead_letter_conflict + ")");
    counted.push_back("ld");
    out.shape += 'l';
  }
  if (!s.rd_id.empty()) {
    ctes.push_back(
        "rdx AS (DELETE FROM mq.delayed m USING unnest(" + p.add(plain_array(s.rd_id)) + "::bigint[], " +
        p.add(int_array(s.rd_attempts)) + "::int[], " + p.add(storage::text_array_literal(s.rd_reason)) +
        "::text[], " + p.add(storage::text_array_literal(s.rd_error)) +
        "::text[]) AS x(id, a, r, e) WHERE m.id = x.id RETURNING m.*, x.a AS xa, x.r AS xr, x.e AS xe)");
    ctes.push_back(std::string("rd AS (INSERT INTO mq.dead_letters (") + dead_letter_columns +
                   ") SELECT message_id, queue, type, schema_version, key, occurred_at, trace_id, producer, "
                   "payload, xa, xr, xe, first_seen, clock_timestamp() FROM rdx" +
                   dead_letter_conflict + ")");
    counted.push_back("rd");
    out.shape += 'L';
  }
  if (s.lane_committed + s.retried + s.dead > 0) {
    ctes.push_back(
        "ctr AS (INSERT INTO mq.counters AS c (queue, consumer, processed, retried, dead_lettered) "
        "VALUES (" +
        q + ", " + p.add(consumer) + ", " + p.add(std::to_string(s.lane_committed)) + "::bigint, " +
        p.add(std::to_string(s.retried)) + "::bigint, " + p.add(std::to_string(s.dead)) +
        "::bigint) ON CONFLICT (queue, consumer) DO UPDATE SET processed = c.processed + "
        "excluded.processed, retried = c.retried + excluded.retried, dead_lettered = "
        "c.dead_lettered + excluded.dead_lettered, updated_at = now() RETURNING 1)");
    counted.push_back("ctr");
    out.shape += 'n';
  }
  if (!s.publishes.empty()) {
    std::vector<std::string> appended;
    ctes.push_back(log_sql::append_ctes(p, s.publishes, "pub", appended));
    for (const auto& a : appended) {
      counted.push_back(a);
      out.shape += a == "pub_log" ? 'p' : 'P';
    }
    if (ring_inside) {
      ctes.push_back("bell AS (SELECT pg_notify(mq.channel(q), '') FROM unnest(" +
                     p.add(storage::text_array_literal(log_sql::queues_of(s.publishes))) + "::text[]) AS q)");
      counted.push_back("bell");
      out.shape += 'b';
    }
  }
  out.sql = "WITH ";
  for (std::size_t i = 0; i < ctes.size(); ++i)
    out.sql += (i ? ",\n" : "") + ctes[i];
  out.sql += "\nSELECT ";
  for (std::size_t i = 0; i < counted.size(); ++i)
    out.sql += (i ? ", " : "") + std::string("(SELECT count(*) FROM ") + counted[i] + ")";
  out.values = p.values();
  return out;
}

}  // namespace

log_consumer::log_consumer(bkr::storage::connection_pool& pool, std::string conninfo,
                           consumer_options options, handler& h, notifier* wakeups, log_consumer_options log)
    : consumer_loop(std::move(options), h), pool_(pool), notifier_(wakeups), log_(log) {
  if (!is_valid_queue_name(options_.queue))
    throw std::invalid_argument("invalid queue name: " + options_.queue);
  owner_ = std::make_unique<owner>(std::move(conninfo), options_.queue, log_.ownership_interval,
                                   options_.lease, this, options_.log);
  if (notifier_)
    notifier_->subscribe(options_.queue, this);
}

log_consumer::~log_consumer() {
  if (notifier_)
    notifier_->unsubscribe(options_.queue, this);
  shutdown_now();
  owner_->stop();
}

void log_consumer::start() {
  owner_->start();
  consumer_loop::start();
}

void log_consumer::stop(std::chrono::milliseconds deadline) {
  consumer_loop::stop(deadline);
  owner_->stop();
}

std::vector<int> log_consumer::owned_partitions() const {
  return owner_->owned();
}

void log_consumer::reap() {
  // Nothing is leased; this is the consumer's periodic maintenance of the log.
  const auto now = std::chrono::steady_clock::now();
  if (now < next_maintenance_)
    return;
  next_maintenance_ = now + log_.maintenance_interval;
  auto lease = pool_.acquire();
  try {
    pqxx::nontransaction tx(lease.conn());
    auto dropped =
        tx.exec_params1("SELECT mq.log_maintain($1)", static_cast<long long>(log_.partition_width))[0]
            .as<long long>();
    // Counter rows of consumers gone for an hour (every start has its own name) fold into the queue's row.
    tx.exec_params(detail::fold_counters_sql, options_.queue, options_.name);
    if (dropped > 0)
      log_debug("consumed log partitions dropped", {{"count", dropped}});
  } catch (const pqxx::broken_connection&) {
    lease.discard();
    throw;
  }
}

consumer_loop::batch_report log_consumer::run_batch() {
  batch_report report;
  const auto owned = owner_->owned();
  if (owned.empty()) {
    // Nothing to read until a partition is taken (the owner wakes us); look again at its pace meanwhile.
    report.next_due_in = log_.ownership_interval;
    return report;
  }
  const auto fresh = owner_->fresh();
  std::map<int, int> tries;  // careful partitions: deliveries of their head so far, this one included
  std::vector<item> batch;
  std::vector<std::string> lane_charge;
  cursor_positions read_after;  // per partition of the batch: the cursor position it was read after
  {
    auto lease = pool_.acquire();
    try {
      pqxx::nontransaction tx(lease.conn());
      if (!fresh.empty()) {
        std::vector<long long> f(fresh.begin(), fresh.end());
        for (const auto& row : tx.exec_prepared(lease.prepare(charge_heads_name, charge_heads_sql),
                                                options_.queue, log_sql::int_array(f))) {
          int part = row[0].as<int>(), n = row[1].as<int>();
          tries[part] = n;
          owner_->charged(part);  // from now on its batches run as usual
        }
        for (const auto& [part, n] : tries) {
          if (n <= options_.retry.max_attempts)
            continue;
          const std::string reason = "its consumer stopped " + std::to_string(n - 1) +
                                     " times while handling it (attempts exhausted)";
          // One statement, so it commits as a whole.
          auto r = tx.exec_params(bury_head_sql, options_.queue, part, n - 1, reason, options_.name);
          dead_lettered_ += r[0][0].as<std::uint64_t>();
          log_error("message dead-lettered: its consumer kept dying on it",
                    {{"partition", part}, {"deliveries", n - 1}});
          tries[part] = 0;
        }
      }
      // The batch size is shared among the owned partitions.
      const auto each = static_cast<long long>((options_.batch_size + owned.size() - 1) / owned.size());
      std::vector<long long> parts(owned.begin(), owned.end()), limits;
      for (int part : owned) {
        auto t = tries.find(part);
        if (t == tries.end() && fresh.count(part) != 0) {
          // Taken but its head not charged yet (none was below the watermark when the charge ran): not read
          // this round, or a head passing the watermark between the two statements would run uncharged.
          limits.push_back(0);
          continue;
        }
        // A head that has been delivered before runs alone, so a poison message is isolated.
        limits.push_back(t != tries.end() && t->second > 1 ? 1 : each);
      }
      note_claim();
      auto r = tx.exec_prepared(lease.prepare(read_name, read_sql), options_.queue, log_sql::int_array(parts),
                                log_sql::int_array(limits), static_cast<long long>(options_.batch_size));
      if (r.empty()) {
        auto idle =
            tx.exec_prepared(lease.prepare(idle_name, idle_sql), options_.queue, log_sql::int_array(parts));
        if (!idle[0][0].is_null())
          report.next_due_in = std::chrono::milliseconds{std::max(0LL, idle[0][0].as<long long>())};
        if (idle[0][1].as<bool>()) {
          // Committed rows wait behind the watermark: the transaction holding it back usually ends within
          // milliseconds, and may ring no doorbell when it does. Look again soon, backing off while it lasts
          // but never beyond held_wait_max: the rows are due the moment it ends (a long one costs a cheap
          // read every held_wait_max, not a late delivery).
          report.next_due_in = std::min(report.next_due_in.value_or(held_wait_), held_wait_);
          held_wait_ = std::min({held_wait_ * 2, held_wait_max, options_.poll_max});
        }
        return report;
      }
      held_wait_ = std::chrono::milliseconds{1};
      batch.reserve(r.size());
      for (const auto& row : r) {
        item it;
        it.lane_id = row[0].as<long long>();
        it.part = row[1].as<int>();
        it.tx = row[2].as<std::string>();
        it.txv = log_sql::xid_value(it.tx);
        it.seq = row[3].as<long long>();
        const int spent = row[4].as<int>();
        it.d.queue = options_.queue;
        it.d.message = detail::envelope_from_row(row, 7, &it.unreadable);
        if (it.from_lane()) {
          it.d.message.attempt = spent + 1;
          if (fresh.count(it.part) != 0)
            lane_charge.push_back(std::to_string(it.lane_id));
        } else {
          auto t = tries.find(it.part);
          it.d.message.attempt = std::max(1, t != tries.end() ? t->second : 1);
          read_after.emplace(it.part, std::make_pair(row[5].as<std::string>(), row[6].as<long long>()));
        }
        batch.push_back(std::move(it));
      }
      // Careful mode for delay-lane rows of freshly taken partitions: charge the attempt before running.
      if (!lane_charge.empty()) {
        std::map<long long, int> charged;
        for (const auto& row : tx.exec_prepared(lease.prepare(charge_lane_name, charge_lane_sql),
                                                log_sql::plain_array(lane_charge)))
          charged[row[0].as<long long>()] = row[1].as<int>();
        for (auto& it : batch)
          if (auto c = charged.find(it.lane_id); it.from_lane() && c != charged.end())
            it.d.message.attempt = c->second;
      }
    } catch (const pqxx::broken_connection&) {
      lease.discard();
      throw;
    }
  }
  // Log rows in log order per partition, then delay-lane rows.
  std::stable_sort(batch.begin(), batch.end(), [](const item& a, const item& b) {
    if (a.from_lane() != b.from_lane())
      return !a.from_lane();
    if (a.from_lane())
      return false;
    return std::tie(a.part, a.txv, a.seq) < std::tie(b.part, b.txv, b.seq);
  });
  report.claimed = batch.size();
  ++batches_;
  settle(batch, read_after);
  return report;
}

void log_consumer::settle(std::vector<item>& batch, const cursor_positions& read_after) {
  // Verdicts fixed without running the handler (again), by index in the batch: an unreadable payload is
  // rejected at once; a message whose handler left the transaction failed (libpqxx closes it on any SQL
  // error) gets its verdict after a rollback, and the batch runs again without it.
  std::map<std::size_t, handler_result> fixed;
  std::vector<delivery> deliveries;
  deliveries.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (batch[i].unreadable.empty()) {
      deliveries.push_back(batch[i].d);
      continue;
    }
    fixed[i] = handler_result::reject("payload is not readable JSON: " + batch[i].unreadable);
    log_error("payload is not readable JSON: dead-lettered",
              {{"message_id", batch[i].d.message.message_id}, {"error", batch[i].unreadable}});
  }
  try {
    handler_.prepare(deliveries);
  } catch (const std::exception& e) {
    log_warn("prepare failed", {{"error", e.what()}});
  }

  // The fence's arguments: each partition's cursor as the batch read it, and the batch's delay-lane rows.
  std::vector<long long> lock_parts, lock_seqs;
  std::vector<std::string> lock_txs, lock_lane;
  for (const auto& [part, pos] : read_after) {
    lock_parts.push_back(part);
    lock_txs.push_back(pos.first);
    lock_seqs.push_back(pos.second);
  }
  for (const auto& it : batch)
    if (it.from_lane())
      lock_lane.push_back(std::to_string(it.lane_id));

  bool try_batch = true;
  for (;;) {
    bkr::storage::unit_of_work uow(pool_);
    auto& tx = uow.tx();
    std::set<long long> locked_parts, locked_lane;
    for (const auto& row :
         tx.exec_prepared(uow.prepare(lock_name, lock_sql),
                          std::to_string(std::max<long long>(1000, options_.lease.count())),
                          std::string(options_.synchronous_commit ? "on" : "off"), options_.queue,
                          log_sql::int_array(lock_parts), log_sql::plain_array(lock_txs),
                          log_sql::int_array(lock_seqs), log_sql::plain_array(lock_lane))) {
      const auto kind = row[0].as<std::string>();
      if (kind == "c")
        locked_parts.insert(row[1].as<long long>());
      else if (kind == "l")
        locked_lane.insert(row[1].as<long long>());
    }

    std::uint64_t lost = 0;
    std::vector<std::optional<handler_result>> verdicts(batch.size());
    std::vector<bool> handed_back(batch.size(), false);
    std::vector<std::size_t> to_run;
    std::vector<bool> is_lost(batch.size(), false);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& it = batch[i];
      if (it.from_lane() ? locked_lane.count(it.lane_id) == 0 : locked_parts.count(it.part) == 0) {
        is_lost[i] = true;
        ++lost;
      } else if (auto f = fixed.find(i); f != fixed.end()) {
        verdicts[i] = f->second;
      } else if (stopping()) {
        handed_back[i] = true;
      } else {
        to_run.push_back(i);
      }
    }

    std::vector<outgoing_message> publishes;
    std::vector<std::function<void()>> hooks;
    bool ran_as_batch = false, replay = false;
    if (try_batch && !to_run.empty()) {
      std::vector<delivery> now;
      now.reserve(to_run.size());
      for (auto i : to_run)
        now.push_back(batch[i].d);
      detail::batch_context ctx(uow, deadline_flag(), false);
      bool usable = true;
      std::optional<std::vector<handler_result>> results;
      try {
        results = handler_.handle_batch(now, ctx);
        if (results && results->size() != to_run.size())
          throw std::logic_error("handle_batch returned " + std::to_string(results->size()) +
                                 " verdicts for " + std::to_string(to_run.size()) + " messages");
        if (results)
          ctx.keep();
        else
          ctx.discard();
      } catch (const pqxx::broken_connection&) {
        throw;
      } catch (const std::exception& e) {
        log_warn("handling the batch as a whole failed; handling it message by message",
                 {{"error", e.what()}, {"messages", to_run.size()}});
        usable = false;
      }
      if (!usable) {
        try_batch = false;
        continue;  // uow rolls back here
      }
      if (results) {
        ran_as_batch = true;
        for (std::size_t k = 0; k < to_run.size(); ++k)
          verdicts[to_run[k]] = std::move((*results)[k]);
        for (auto& m : ctx.publishes)
          publishes.push_back(std::move(m));
        for (auto& h : ctx.hooks)
          hooks.push_back(std::move(h));
      }
    }
    if (!ran_as_batch) {
      for (auto i : to_run) {
        if (stopping()) {  // asked to stop meanwhile: what has not started is left for the next reader
          handed_back[i] = true;
          continue;
        }
        detail::batch_context ctx(uow, deadline_flag());
        handler_result r;
        try {
          r = handler_.handle(batch[i].d, ctx);
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (...) {
          r = classify(std::current_exception());
        }
        bool usable = true;
        try {
          if (r.kind == outcome::commit)
            ctx.keep();
          else
            ctx.discard();
        } catch (const pqxx::broken_connection&) {
          throw;
        } catch (const std::exception&) {
          usable = false;
        }
        if (!usable) {
          fixed[i] =
              r.kind != outcome::commit ? r : handler_result::retry("the handler's transaction failed");
          replay = true;
          break;
        }
        if (r.kind == outcome::commit) {
          for (auto& m : ctx.publishes)
            publishes.push_back(std::move(m));
          for (auto& h : ctx.hooks)
            hooks.push_back(std::move(h));
        }
        verdicts[i] = std::move(r);
      }
    }
    if (replay) {
      log_warn("a handler left the batch transaction failed; running the batch again without it");
      continue;  // uow rolls back here
    }

    // What the verdicts mean for the cursors, the delay lane and the dead letters. A partition's cursor
    // passes its rows up to the first one handed back (a stop), never beyond: the rest is read again.
    settlement s;
    s.publishes = std::move(publishes);
    auto apply = [&](const item& it, const handler_result& r) {
      const int a = it.d.message.attempt;
      auto to_lane = [&](long long delay, int spent) {
        ++s.retried;
        if (it.from_lane()) {
          s.rr_id.push_back(std::to_string(it.lane_id));
          s.rr_delay.push_back(delay);
          s.rr_attempts.push_back(spent);
          s.rr_error.push_back(r.reason);
        } else {
          s.lr_part.push_back(it.part);
          s.lr_tx.push_back(it.tx);
          s.lr_seq.push_back(it.seq);
          s.lr_delay.push_back(delay);
          s.lr_attempts.push_back(spent);
          s.lr_error.push_back(r.reason);
        }
      };
      auto to_dead = [&](const std::string& reason) {
        ++s.dead;
        if (it.from_lane()) {
          s.rd_id.push_back(std::to_string(it.lane_id));
          s.rd_attempts.push_back(a);
          s.rd_reason.push_back(reason);
          s.rd_error.push_back(r.reason);
        } else {
          s.ld_part.push_back(it.part);
          s.ld_tx.push_back(it.tx);
          s.ld_seq.push_back(it.seq);
          s.ld_attempts.push_back(a);
          s.ld_reason.push_back(reason);
          s.ld_error.push_back(r.reason);
        }
      };
      switch (r.kind) {
        case outcome::commit:
          ++s.committed;
          if (it.from_lane()) {
            s.lane_done.push_back(std::to_string(it.lane_id));
            ++s.lane_committed;
          }
          break;
        case outcome::retry: {
          if (!r.attempt_spent) {  // postponed: this attempt is not counted
            to_lane(r.delay.value_or(std::chrono::milliseconds{0}).count(), std::max(0, a - 1));
            break;
          }
          auto d = decide_retry(options_.retry, a, r.delay, random_unit());
          if (d.dead_letter)
            to_dead("attempts exhausted (" + std::to_string(a) + ")");
          else
            to_lane(d.delay.count(), a);
          break;
        }
        case outcome::reject:
          to_dead(r.reason);
          break;
      }
    };
    std::map<int, std::tuple<std::string, long long, long long>> moves;  // part -> (tx, seq, committed)
    std::set<int> cut;
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& it = batch[i];
      if (is_lost[i])
        continue;
      if (!it.from_lane() && cut.count(it.part) != 0)
        continue;
      if (handed_back[i] || !verdicts[i]) {
        if (!it.from_lane())
          cut.insert(it.part);
        continue;
      }
      apply(it, *verdicts[i]);
      if (!it.from_lane()) {
        auto& m = moves[it.part];
        std::get<0>(m) = it.tx;
        std::get<1>(m) = it.seq;
        if (verdicts[i]->kind == outcome::commit)
          ++std::get<2>(m);
      }
    }
    for (const auto& [part, m] : moves) {
      s.cur_part.push_back(part);
      s.cur_tx.push_back(std::get<0>(m));
      s.cur_seq.push_back(std::get<1>(m));
      s.cur_n.push_back(std::get<2>(m));
    }
    if (s.empty()) {
      lease_lost_ += lost;
      if (lost > 0)
        log_warn("partition taken over before settlement; messages skipped", {{"count", lost}});
      return;  // nothing of ours to settle: roll back
    }
    // An asynchronous commit rings inside the settlement; a synchronous one after it, in its own statement.
    const bool ring_inside = !options_.synchronous_commit;
    auto st = build_settlement(s, options_.queue, options_.name, ring_inside);
    tx.exec_prepared(uow.prepare(settle_name(st.shape), st.sql),
                     pqxx::prepare::make_dynamic_params(st.values));
    uow.commit();
    if (!ring_inside) {
      try {
        log_sql::ring(uow.connection(), log_sql::queues_of(s.publishes));
      } catch (const std::exception& e) {
        log_warn("ringing the doorbell failed; consumers will poll", {{"error", e.what()}});
      }
    }
    for (auto& h : hooks) {
      try {
        h();
      } catch (const std::exception& e) {
        log_warn("after-commit hook failed", {{"error", e.what()}});
      }
    }
    processed_ += static_cast<std::uint64_t>(s.committed);
    retried_ += static_cast<std::uint64_t>(s.retried);
    dead_lettered_ += static_cast<std::uint64_t>(s.dead);
    lease_lost_ += lost;
    if (lost > 0)
      log_warn("partition taken over before settlement; messages skipped", {{"count", lost}});
    return;
  }
}

}  // namespace bkr::messaging::postgres
