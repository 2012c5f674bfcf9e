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

/// Throws std::invalid_argument when a message cannot be published (queue name, id, type).
void validate_outgoing(const outgoing_message& m);

/// A peek row: attempts, enqueued_at and run_at (epoch ms), delayed, last_error, then the envelope columns.
waiting_message waiting_from_row(const pqxx::row& row, std::string queue);

/// Timestamp column as epoch milliseconds (avoids any dependence on the session's TimeZone).
timestamp epoch_ms(const pqxx::field& f);

/// SELECT list for envelope fields (8 columns) of a row alias `m`.
inline constexpr const char* envelope_columns =
    "m.message_id::text, m.type, m.schema_version, m.key, (extract(epoch from m.occurred_at) * "
    "1000)::bigint, "
    "m.trace_id, m.producer, m.payload::text";

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
