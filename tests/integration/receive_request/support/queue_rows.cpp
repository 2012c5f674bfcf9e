// Queries on the service's output for assertions.
#include "queue_rows.hpp"

#include <pqxx/pqxx>

namespace bkr::rr_test {

std::vector<queued_message> queued_messages(const std::string& conninfo, const std::string& queue) {
  pqxx::connection conn(conninfo);
  pqxx::read_transaction tx(conn);
  const auto rows = tx.exec_params(
      "SELECT message_id::text, queue, type, key, trace_id, producer, payload::text FROM mq.messages"
      " WHERE $1 = '' OR queue = $1 ORDER BY enqueued_at, message_id",
      queue);
  std::vector<queued_message> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    out.push_back({r[0].as<std::string>(), r[1].as<std::string>(), r[2].as<std::string>(),
                   r[3].as<std::string>(), r[4].as<std::string>(), r[5].as<std::string>(),
                   nlohmann::json::parse(r[6].c_str())});
  }
  return out;
}

std::int64_t message_count(const std::string& conninfo) {
  pqxx::connection conn(conninfo);
  pqxx::read_transaction tx(conn);
  return tx.exec("SELECT count(*) FROM mq.messages")[0][0].as<std::int64_t>();
}

void execute(const std::string& conninfo, const std::string& sql) {
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  tx.exec(sql);
}

}  // namespace bkr::rr_test
