// Appending to the log: one statement per publish call in the caller's transaction, doorbells after commit.
#include "bkr/messaging/postgres/log.hpp"

#include "log_sql.hpp"

#include <memory>

namespace bkr::messaging::postgres {
namespace {

struct append_statement {
  std::string sql;
  std::vector<std::string> values;
  std::vector<std::string> parts;  ///< the CTEs written: a_log (rows to the log), a_lane (delayed rows)
};

append_statement make_append(std::span<const outgoing_message> messages) {
  log_sql::params p;
  append_statement s;
  s.sql = "WITH " + log_sql::append_ctes(p, messages, "a", s.parts) + "\nSELECT ";
  for (std::size_t i = 0; i < s.parts.size(); ++i)
    s.sql += (i ? " + " : "") + std::string("(SELECT count(*) FROM ") + s.parts[i] + ")";
  s.values = p.values();
  return s;
}

std::size_t count_of(const pqxx::result& r) {
  return r[0][0].as<std::size_t>();
}

}  // namespace

std::size_t append_to_log(pqxx::transaction_base& tx, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  auto s = make_append(messages);
  return count_of(tx.exec_params(s.sql, pqxx::prepare::make_dynamic_params(s.values)));
}

std::size_t append_to_log(bkr::storage::unit_of_work& uow, std::span<const outgoing_message> messages) {
  if (messages.empty())
    return 0;
  auto s = make_append(messages);
  // One prepared statement per shape (with or without delayed rows); the names must outlive their use.
  static const std::string now_only = "bkr_log_append", lane_only = "bkr_log_append_lane",
                           both = "bkr_log_append_both";
  const std::string& name = s.parts.size() == 2 ? both : (s.parts.front() == "a_lane" ? lane_only : now_only);
  return count_of(
      uow.tx().exec_prepared(uow.prepare(name, s.sql), pqxx::prepare::make_dynamic_params(s.values)));
}

void ring_doorbells(pqxx::connection& conn, const std::vector<std::string>& queues) {
  log_sql::ring(conn, queues);
}

void log_publisher::ring_after_commit(const std::vector<outgoing_message>& messages) {
  const bool first = queues_->empty();
  for (const auto& q : log_sql::queues_of(messages))
    queues_->insert(q);
  if (!first || queues_->empty())
    return;
  // The hook may run after this publisher is gone: it shares the queue set, and the unit outlives its hooks.
  uow_.after_commit([queues = queues_, &uow = uow_] {
    ring_doorbells(uow.connection(), {queues->begin(), queues->end()});
  });
}

void log_publisher::publish(outgoing_message message) {
  std::vector<outgoing_message> one;
  one.push_back(std::move(message));
  publish_many(std::move(one));
}

void log_publisher::publish_many(std::vector<outgoing_message> messages) {
  appended_ += append_to_log(uow_, messages);
  ring_after_commit(messages);
}

}  // namespace bkr::messaging::postgres
