// SQL text and row mapping shared by the Postgres backend's sources (internal header).
#pragma once

#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/handler.hpp"

#include <pqxx/pqxx>

#include <span>
#include <string>
#include <vector>

namespace bkr::messaging::postgres::detail {

/// Postgres array literal of UUIDs, e.g. `{a,b}`; ids are validated UUIDs so they need no quoting.
std::string uuid_array(const std::vector<std::string>& ids);

/// Envelope columns as selected by message_columns / dead_letter_columns, starting at `first`.
/// A `json` column holds any text the JSON grammar allows, also text the parser refuses (a number beyond
/// the range of a double such as 1e999, an unpaired surrogate escape). With `payload_error`, such a payload
/// becomes the JSON string of its text and the parser's message goes to *payload_error; without, it throws.
envelope envelope_from_row(const pqxx::row& row, int first, std::string* payload_error = nullptr);

/// CTEs `input`, `fresh`, `chosen`, `ins` that insert the messages of the JSON rows in parameter `$<param>`
/// (made by publish_rows) with de-duplication; `ins` returns the queue of every inserted message. The
/// statement that uses them notifies those queues (see publish_notify).
std::string publish_ctes(int param);

/// A CTE `notified` that wakes the consumers of every queue `ins` inserted into; a statement must read it
/// (e.g. count it) for the notifications to be sent.
inline constexpr const char* publish_notify =
    "notified AS (SELECT q, n, pg_notify('bkr_mq', q) AS x FROM (SELECT queue AS q, count(*) AS n FROM ins "
    "GROUP BY queue) s)";

/// Throws std::invalid_argument when a message cannot be published (queue name, id, type).
void validate_outgoing(const outgoing_message& m);

/// The JSON rows for publish_ctes, validated and sorted by (queue, dedup key) so that concurrent
/// publishers take key locks in one order (no deadlock). Throws std::invalid_argument on a bad message.
std::string publish_rows(std::span<const outgoing_message> messages);

/// A peek row: attempts, enqueued_at and run_at (epoch ms), delayed, last_error, then the envelope columns.
waiting_message waiting_from_row(const pqxx::row& row, std::string queue);

/// Timestamp column as epoch milliseconds (avoids any dependence on the session's TimeZone).
timestamp epoch_ms(const pqxx::field& f);

/// SELECT list for envelope fields (8 columns) of a row alias `m`.
inline constexpr const char* envelope_columns =
    "m.message_id::text, m.type, m.schema_version, m.key, (extract(epoch from m.occurred_at) * "
    "1000)::bigint, "
    "m.trace_id, m.producer, m.payload::text";

/// Column list and SELECT list to move a deleted hot-table row (CTE `dead` carrying reason r and error
/// err) into mq.dead_letters.
inline constexpr const char* dead_letter_insert =
    "INSERT INTO mq.dead_letters AS x (message_id, queue, priority, type, schema_version, key, occurred_at, "
    "trace_id, producer, payload, dedup_key, attempts, reason, last_error, first_seen, last_seen) "
    "SELECT message_id, queue, priority, type, schema_version, key, occurred_at, trace_id, producer, "
    "payload, "
    "dedup_key, attempt, r, coalesce(err, last_error, ''), enqueued_at, clock_timestamp() FROM dead "
    "ON CONFLICT (message_id) DO UPDATE SET attempts = excluded.attempts, reason = excluded.reason, "
    "last_error = excluded.last_error, last_seen = excluded.last_seen RETURNING 1";

/// Counter rows of consumers idle for an hour are folded into the queue's '' row so the table stays small
/// ($1 queue, $2 the calling consumer, whose row stays).
inline constexpr const char* fold_counters_sql = R"sql(
WITH old AS (
  DELETE FROM mq.counters WHERE queue = $1 AND consumer <> '' AND consumer <> $2
    AND updated_at < now() - interval '1 hour'
  RETURNING processed, retried, dead_lettered)
INSERT INTO mq.counters AS c (queue, consumer, processed, retried, dead_lettered)
SELECT $1, '', sum(processed), sum(retried), sum(dead_lettered) FROM old HAVING count(*) > 0
ON CONFLICT (queue, consumer) DO UPDATE SET processed = c.processed + excluded.processed,
  retried = c.retried + excluded.retried, dead_lettered = c.dead_lettered + excluded.dead_lettered
)sql";

}  // namespace bkr::messaging::postgres::detail
