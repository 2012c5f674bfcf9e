// The Postgres consumer: claim (short transaction), then one settlement transaction per batch in which
// every handler runs, fenced by row locks taken on (message_id, fence) before any handler starts.
#include "bkr/messaging/postgres/consumer.hpp"

#include "batch_context.hpp"
#include "bkr/storage/unit_of_work.hpp"
#include "log_sql.hpp"
#include "sql.hpp"

#include <algorithm>
#include <map>
#include <set>

namespace bkr::messaging::postgres {
namespace {

// The claim body shared by both claim statements. Times come from statement_timestamp(): a claim issued at
// the end of a long settlement transaction must not start its leases at that transaction's start (now()).
const std::string claim_body = std::string(R"sql(
picked AS (
  SELECT message_id FROM mq.messages
  WHERE queue = $1 AND leased_until IS NULL AND run_at <= statement_timestamp()
    AND NOT EXISTS (SELECT 1 FROM mq.queues q WHERE q.queue = $1 AND q.paused)
  ORDER BY priority DESC, run_at, message_id
  LIMIT $2
  FOR UPDATE SKIP LOCKED)
UPDATE mq.messages m
SET leased_until = statement_timestamp() + $3::bigint * interval '1 millisecond', lease_owner = $4,
    fence = m.fence + 1, attempt = m.attempt + 1
FROM picked%CFG% WHERE m.message_id = picked.message_id
RETURNING m.fence, m.attempt, m.priority, (extract(epoch from m.run_at) * 1000)::bigint, )sql") +
                               detail::envelope_columns;

std::string with_cfg(const std::string& cfg) {
  auto body = claim_body;
  body.replace(body.find("%CFG%"), 5, cfg);
  return body;
}

// A claim on its own (the first batch after an idle wait) runs as one autocommit statement: one round trip.
// The claim commits on its own (attempt counted, lease and fence set) so that a consumer dying during its
// batch cannot make a poison message loop without spending attempts. Its commit is asynchronous
// (set_config(..., true) lasts until the statement's implicit transaction has committed): a synchronous
// settlement that follows flushes the claim's WAL with it; a claim lost in a server crash only loses the
// lease, never a message.
const std::string claim_alone_sql =
    "WITH cfg AS (SELECT set_config('synchronous_commit', 'off', true) AS s)," + with_cfg(", cfg");

// While work flows, the next batch is claimed inside the current settlement transaction (prefetch): it
// commits with the settlement, synchronously, and saves a transaction and its round trips per batch.
const std::string claim_next_sql = "WITH" + with_cfg("");

// NULL when nothing waits (not greatest(0, ...): greatest ignores a NULL argument, and an answer of 0 for an
// empty queue made every idle consumer claim again after 1 ms, a thousand times a second).
constexpr const char* next_due_sql =
    "SELECT (extract(epoch from (min(run_at) - clock_timestamp())) * 1000)::bigint "
    "FROM mq.messages WHERE queue = $1 AND leased_until IS NULL";

// Locks the batch's rows for the whole settlement transaction, but only those still carrying the fence
// of our claim: a row re-claimed or reaped since then is not ours any more (lease lost). The same round
// trip bounds how long the session may sit idle inside this transaction ($3, see run_batch) and sets how
// the settlement commits ($4: synchronous_commit on or off).
constexpr const char* lock_sql = R"sql(
WITH cfg AS (SELECT set_config('idle_in_transaction_session_timeout', $3, true),
                    set_config('synchronous_commit', $4, true))
SELECT m.message_id::text FROM cfg, mq.messages m
JOIN unnest($1::uuid[], $2::bigint[]) AS x(id, f) ON m.message_id = x.id AND m.fence = x.f
ORDER BY m.message_id
FOR UPDATE OF m
)sql";

// Prefetched leases not started when the consumer stops go back to ready without spending an attempt.
constexpr const char* hand_back_sql = R"sql(
UPDATE mq.messages m SET leased_until = NULL, lease_owner = NULL, fence = m.fence + 1,
  attempt = greatest(m.attempt - 1, 0)
FROM unnest($1::uuid[], $2::bigint[]) AS x(id, f)
WHERE m.message_id = x.id AND m.fence = x.f
)sql";

// One statement settles the whole batch and publishes what its handlers published ($7, JSON rows of
// detail::publish_rows): one round trip less per batch than a separate publish. Every id settled was locked
// under its fence by lock_sql.
const std::string settle_sql = "WITH" + detail::publish_ctes(7) + ",\n" + detail::publish_notify + R"sql(,
done AS (
  DELETE FROM mq.messages WHERE message_id = ANY($1::uuid[]) RETURNING 1),
retried AS (
  UPDATE mq.messages m SET leased_until = NULL, lease_owner = NULL, fence = m.fence + 1,
    run_at = clock_timestamp() + x.d * interval '1 millisecond', last_error = x.e,
    attempt = greatest(m.attempt - coalesce(x.a, 0), 0)
  FROM json_to_recordset($2::json) AS x(id uuid, d bigint, e text, a int)
  WHERE m.message_id = x.id RETURNING 1),
dead AS (
  DELETE FROM mq.messages m USING json_to_recordset($3::json) AS x(id uuid, r text, e text)
  WHERE m.message_id = x.id
  RETURNING m.*, x.r AS r, x.e AS err),
dl AS ()sql" + detail::dead_letter_insert +
                               R"sql(),
back AS (
  UPDATE mq.messages SET leased_until = NULL, lease_owner = NULL, fence = fence + 1,
    attempt = greatest(attempt - 1, 0)
  WHERE message_id = ANY($4::uuid[]) RETURNING 1),
ctr AS (
  INSERT INTO mq.counters AS c (queue, consumer, processed, retried, dead_lettered)
  SELECT $5, $6, (SELECT count(*) FROM done), (SELECT count(*) FROM retried), (SELECT count(*) FROM dl)
  ON CONFLICT (queue, consumer) DO UPDATE SET processed = c.processed + excluded.processed,
    retried = c.retried + excluded.retried, dead_lettered = c.dead_lettered + excluded.dead_lettered,
    updated_at = now()
  RETURNING 1)
SELECT (SELECT count(*) FROM done), (SELECT count(*) FROM retried), (SELECT count(*) FROM dl),
       (SELECT count(*) FROM back), (SELECT count(*) FROM ctr), (SELECT count(*) FROM notified)
)sql";

// Expired leases: back to ready with the attempt counted, or dead when that was the last attempt.
const std::string reap_sql = std::string(R"sql(
WITH expired AS (
  SELECT message_id FROM mq.messages WHERE queue = $1 AND leased_until < now()
  ORDER BY leased_until LIMIT 1000 FOR UPDATE SKIP LOCKED),
back AS (
  UPDATE mq.messages m SET leased_until = NULL, lease_owner = NULL, fence = m.fence + 1,
    last_error = 'lease expired'
  FROM expired e WHERE m.message_id = e.message_id AND m.attempt < $2 RETURNING 1),
dead AS (
  DELETE FROM mq.messages m USING expired e
  WHERE m.message_id = e.message_id AND m.attempt >= $2
  RETURNING m.*, 'lease expired on the last attempt'::text AS r, 'lease expired'::text AS err),
dl AS ()sql") + detail::dead_letter_insert +
                             R"sql(),
ctr AS (
  INSERT INTO mq.counters AS c (queue, consumer, dead_lettered)
  SELECT $1, $3, n FROM (SELECT count(*) AS n FROM dl) s WHERE n > 0
  ON CONFLICT (queue, consumer) DO UPDATE SET dead_lettered = c.dead_lettered + excluded.dead_lettered,
    updated_at = now()
  RETURNING 1)
SELECT (SELECT count(*) FROM back), (SELECT count(*) FROM dl), (SELECT count(*) FROM ctr)
)sql";

constexpr const char* prune_dedup_sql =
    "DELETE FROM mq.dedup_keys WHERE queue = $1 AND created_at < now() - $2::bigint * interval '1 hour'";

// Prepared statement names; the pool's prepare() keeps a reference to the name it is given.
const std::string claim_alone_name = "bkr_mq_claim", claim_next_name = "bkr_mq_claim_next",
                  next_due_name = "bkr_mq_next_due", reap_name = "bkr_mq_reap";

}  // namespace

consumer::consumer(bkr::storage::connection_pool& pool, consumer_options options, handler& h,
                   notifier* wakeups, pg_consumer_options pg)
    : consumer_loop(std::move(options), h), pool_(pool), notifier_(wakeups), pg_(pg) {
  if (!is_valid_queue_name(options_.queue))
    throw std::invalid_argument("invalid queue name: " + options_.queue);
  next_maintenance_ = std::chrono::steady_clock::now();
  if (notifier_)
    notifier_->subscribe(options_.queue, this);
}

consumer::~consumer() {
  if (notifier_)
    notifier_->unsubscribe(options_.queue, this);
  shutdown_now();
}

void consumer::reap() {
  auto lease = pool_.acquire();
  try {
    pqxx::work tx(lease.conn());
    tx.exec0("SET LOCAL synchronous_commit TO OFF");
    auto r = tx.exec_prepared(lease.prepare(reap_name, reap_sql), options_.queue, options_.retry.max_attempts,
                              options_.name);
    bool maintain = std::chrono::steady_clock::now() >= next_maintenance_;
    if (maintain) {
      tx.exec_params(prune_dedup_sql, options_.queue, static_cast<long long>(pg_.dedup_retention.count()));
      tx.exec_params(detail::fold_counters_sql, options_.queue, options_.name);
      next_maintenance_ = std::chrono::steady_clock::now() + pg_.maintenance_interval;
    }
    tx.commit();
    auto back = r[0][0].as<long long>(), dead = r[0][1].as<long long>();
    dead_lettered_ += static_cast<std::uint64_t>(dead);
    if (back + dead > 0)
      log_warn("expired leases recovered", {{"ready_again", back}, {"dead_lettered", dead}});
  } catch (const pqxx::broken_connection&) {
    lease.discard();
    throw;
  }
}

std::vector<consumer::claimed> consumer::read_claim(const pqxx::result& r) const {
  std::vector<claimed> batch;
  batch.reserve(r.size());
  for (const auto& row : r) {
    claimed c;
    c.fence = row[0].as<long long>();
    c.d.queue = options_.queue;
    c.d.priority = row[2].as<int>();
    c.run_at_ms = row[3].as<long long>();
    c.d.message = detail::envelope_from_row(row, 4, &c.unreadable);
    c.d.message.attempt = row[1].as<int>();
    batch.push_back(std::move(c));
  }
  return batch;
}

void consumer::on_exit() {
  if (prefetched_.empty())
    return;
  std::vector<std::string> ids;
  std::vector<long long> fences;
  for (const auto& c : prefetched_) {
    ids.push_back(c.d.message.message_id);
    fences.push_back(c.fence);
  }
  prefetched_.clear();
  bkr::storage::unit_of_work uow(pool_);
  auto r = uow.tx().exec_params(hand_back_sql, detail::uuid_array(ids), log_sql::int_array(fences));
  uow.commit();
  log_debug("handed back prefetched messages", {{"count", r.affected_rows()}});
}

consumer_loop::batch_report consumer::run_batch() {
  batch_report report;
  std::vector<claimed> batch;
  if (!prefetched_.empty()) {
    batch.swap(prefetched_);
  } else {
    auto lease = pool_.acquire();
    try {
      pqxx::nontransaction tx(lease.conn());
      const auto& claim = lease.prepare(claim_alone_name, claim_alone_sql);
      note_claim();
      auto r = tx.exec_prepared(claim, options_.queue, static_cast<long long>(options_.batch_size),
                                static_cast<long long>(options_.lease.count()), options_.name);
      if (r.empty()) {
        auto due = tx.exec_prepared(lease.prepare(next_due_name, next_due_sql), options_.queue);
        if (!due.empty() && !due[0][0].is_null())
          report.next_due_in = std::chrono::milliseconds{std::max(0LL, due[0][0].as<long long>())};
        return report;
      }
      batch = read_claim(r);
    } catch (const pqxx::broken_connection&) {
      lease.discard();
      throw;
    }
  }
  // RETURNING has no order; handle in claim order.
  std::sort(batch.begin(), batch.end(), [](const claimed& a, const claimed& b) {
    if (a.d.priority != b.d.priority)
      return a.d.priority > b.d.priority;
    if (a.run_at_ms != b.run_at_ms)
      return a.run_at_ms < b.run_at_ms;
    return a.d.message.message_id < b.d.message.message_id;
  });
  report.claimed = batch.size();
  ++batches_;

  // Verdicts fixed without running the handler (again): a payload that could not be parsed is rejected at
  // once; messages whose handler left the transaction unusable (libpqxx closes a transaction on any SQL
  // error, so no savepoint can rescue it) get theirs after the batch is rolled back, and it runs again in a
  // new transaction without them; every pass fixes one more verdict.
  std::map<std::string, handler_result> fixed;
  std::vector<delivery> deliveries;
  deliveries.reserve(batch.size());
  for (const auto& c : batch) {
    if (c.unreadable.empty()) {
      deliveries.push_back(c.d);
      continue;
    }
    fixed[c.d.message.message_id] = handler_result::reject("payload is not readable JSON: " + c.unreadable);
    log_error("payload is not readable JSON: dead-lettered",
              {{"message_id", c.d.message.message_id}, {"error", c.unreadable}});
  }
  try {
    handler_.prepare(deliveries);
  } catch (const std::exception& e) {
    log_warn("prepare failed", {{"error", e.what()}});
  }

  pqxx::result s;
  std::vector<std::function<void()>> hooks;
  std::uint64_t lost = 0;
  std::vector<std::string> handed_back;
  bool try_batch = true;
  for (;;) {
    bkr::storage::unit_of_work uow(pool_);
    auto& tx = uow.tx();
    // A consumer that hangs inside its transaction must not keep the rows locked forever: the server ends
    // a session idle in transaction for longer than the lease, which releases the rows to the reaper.
    static const std::string lock_name = "bkr_mq_lock", settle_name = "bkr_mq_settle";
    std::vector<std::string> ids;
    std::vector<long long> fences;
    ids.reserve(batch.size());
    fences.reserve(batch.size());
    for (const auto& c : batch) {
      ids.push_back(c.d.message.message_id);
      fences.push_back(c.fence);
    }
    std::set<std::string> locked;
    for (const auto& row : tx.exec_prepared(uow.prepare(lock_name, lock_sql), detail::uuid_array(ids),
                                            log_sql::int_array(fences),
                                            std::to_string(std::max<long long>(1000, options_.lease.count())),
                                            std::string(options_.synchronous_commit ? "on" : "off")))
      locked.insert(row[0].as<std::string>());

    std::vector<std::string> done;
    handed_back.clear();
    hooks.clear();
    nlohmann::json retries = nlohmann::json::array(), dead = nlohmann::json::array();
    std::vector<outgoing_message> publishes;
    lost = 0;
    bool replay = false;

    // Which messages run now: not those whose lease is lost, nor (when stopping) those not started.
    std::vector<std::pair<const claimed*, handler_result>> verdicts;
    std::vector<const claimed*> to_run;
    for (const auto& c : batch) {
      const auto& id = c.d.message.message_id;
      if (locked.count(id) == 0) {
        ++lost;
        continue;
      }
      if (auto f = fixed.find(id); f != fixed.end())
        verdicts.emplace_back(&c, f->second);
      else if (stopping())
        handed_back.push_back(id);
      else
        to_run.push_back(&c);
    }

    // First the handler's whole-batch path (set-based statements); message by message when it declines,
    // or after it failed.
    bool ran_as_batch = false;
    if (try_batch && !to_run.empty()) {
      std::vector<delivery> deliveries_now;
      deliveries_now.reserve(to_run.size());
      for (const auto* c : to_run)
        deliveries_now.push_back(c->d);
      // No savepoint: a failure undoes the whole transaction, and a handler that declines wrote nothing.
      detail::batch_context ctx(uow, deadline_flag(), false);
      bool usable = true;
      std::optional<std::vector<handler_result>> results;
      try {
        results = handler_.handle_batch(deliveries_now, ctx);
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
        for (std::size_t i = 0; i < to_run.size(); ++i)
          verdicts.emplace_back(to_run[i], std::move((*results)[i]));
        for (auto& p : ctx.publishes)
          publishes.push_back(std::move(p));
        for (auto& h : ctx.hooks)
          hooks.push_back(std::move(h));
      }
    }
    if (!ran_as_batch) {
      for (const auto* c : to_run) {
        const auto& id = c->d.message.message_id;
        if (stopping()) {  // asked to stop meanwhile: what has not started goes back
          handed_back.push_back(id);
          continue;
        }
        detail::batch_context ctx(uow, deadline_flag());
        handler_result r;
        try {
          r = handler_.handle(c->d, ctx);
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
          fixed[id] =
              r.kind != outcome::commit ? r : handler_result::retry("the handler's transaction failed");
          replay = true;
          break;
        }
        if (r.kind == outcome::commit) {
          for (auto& p : ctx.publishes)
            publishes.push_back(std::move(p));
          for (auto& h : ctx.hooks)
            hooks.push_back(std::move(h));
        }
        verdicts.emplace_back(c, std::move(r));
      }
    }
    for (const auto& [c, r] : verdicts) {
      const auto& id = c->d.message.message_id;
      switch (r.kind) {
        case outcome::commit:
          done.push_back(id);
          break;
        case outcome::retry: {
          if (!r.attempt_spent) {  // postponed: the claim's attempt is given back ("a": 1)
            retries.push_back({{"id", id},
                               {"d", r.delay.value_or(std::chrono::milliseconds{0}).count()},
                               {"e", r.reason},
                               {"a", 1}});
            break;
          }
          auto d = decide_retry(options_.retry, c->d.message.attempt, r.delay, random_unit());
          if (d.dead_letter)
            dead.push_back({{"id", id},
                            {"r", "attempts exhausted (" + std::to_string(c->d.message.attempt) + ")"},
                            {"e", r.reason}});
          else
            retries.push_back({{"id", id}, {"d", d.delay.count()}, {"e", r.reason}});
          break;
        }
        case outcome::reject:
          dead.push_back({{"id", id}, {"r", r.reason}, {"e", r.reason}});
          break;
      }
    }
    if (replay) {
      log_warn("a handler left the settlement transaction failed; running the batch again without it");
      continue;  // uow rolls back here
    }
    s = tx.exec_prepared(uow.prepare(settle_name, settle_sql), detail::uuid_array(done), retries.dump(),
                         dead.dump(), detail::uuid_array(handed_back), options_.queue, options_.name,
                         detail::publish_rows(publishes));
    // A full batch suggests more work: claim the next one in this transaction. Not when stopping (it
    // would only be handed back) nor after a short batch (the queue is probably drained).
    pqxx::result next;
    if (!stopping() && batch.size() >= options_.batch_size) {
      note_claim();
      next = tx.exec_prepared(uow.prepare(claim_next_name, claim_next_sql), options_.queue,
                              static_cast<long long>(options_.batch_size),
                              static_cast<long long>(options_.lease.count()), options_.name);
    }
    uow.commit();
    prefetched_ = read_claim(next);
    break;
  }
  for (auto& h : hooks) {
    try {
      h();
    } catch (const std::exception& e) {
      log_warn("after-commit hook failed", {{"error", e.what()}});
    }
  }
  processed_ += s[0][0].as<std::uint64_t>();
  retried_ += s[0][1].as<std::uint64_t>();
  dead_lettered_ += s[0][2].as<std::uint64_t>();
  lease_lost_ += lost;
  if (lost > 0)
    log_warn("lease lost before settlement; messages skipped", {{"count", lost}});
  if (!handed_back.empty())
    log_debug("handed back unstarted messages", {{"count", handed_back.size()}});
  return report;
}

}  // namespace bkr::messaging::postgres
