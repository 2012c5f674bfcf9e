// SQL building blocks of the log backend (internal header): array literals, numbered parameters, the
// append statement shared by the publisher and the consumer's settlement.
#pragma once

#include "bkr/messaging/handler.hpp"
#include "bkr/storage/sql_arrays.hpp"

#include <pqxx/pqxx>

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::messaging::postgres::log_sql {

/// Parameters of one statement, numbered in the order they are added. The SQL text that uses them depends
/// only on which parts a statement has, so one prepared statement serves every call with the same parts.
class params {
 public:
  /// Adds a value; returns its placeholder (`$n`).
  std::string add(std::string value);
  const std::vector<std::string>& values() const { return values_; }

 private:
  std::vector<std::string> values_;
};

/// CTE `p` (column `part`): every partition of queue `$1`, those its partition count names and any a cursor
/// exists for.
inline const std::string partitions_cte = R"sql(p AS (SELECT generate_series(0, greatest(
  coalesce((SELECT partitions FROM mq.log_queues WHERE queue = $1), 1),
  (SELECT coalesce(max(part) + 1, 0) FROM mq.cursors WHERE queue = $1)) - 1) AS part))sql";

/// Array literals (`{...}`) for arrays of numbers or uuids (elements need no quoting); text[] literals come
/// from bkr::storage::text_array_literal.
std::string plain_array(const std::vector<std::string>& values);
std::string int_array(const std::vector<long long>& values);

/// The CTEs that append `messages` (validated, in order) to mq.log, and those with a delay to mq.delayed,
/// named `<prefix>_in`, `<prefix>_log`, `<prefix>_lane`; the last two return one row per message written.
/// Returns "" when there is nothing to append. `parts` gets the CTEs' names to count.
std::string append_ctes(params& p, std::span<const outgoing_message> messages, std::string_view prefix,
                        std::vector<std::string>& counted);

/// Distinct queues of `messages` (the doorbells to ring after commit).
std::vector<std::string> queues_of(std::span<const outgoing_message> messages);

/// Rings the doorbell of `queues` (NOTIFY on the mq channel) in an autocommit statement whose commit does
/// not wait for a WAL flush, so no notification lock is ever held across one. Call after the commit that
/// made the messages visible, on a connection with no open transaction.
void ring(pqxx::connection& conn, const std::vector<std::string>& queues);

/// An xid8 in text form as an unsigned number (for ordering positions in C++).
std::uint64_t xid_value(std::string_view text);

}  // namespace bkr::messaging::postgres::log_sql
