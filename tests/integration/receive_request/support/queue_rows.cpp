// Queries on the service's output for assertions.
#include "queue_rows.hpp"

#include "bkr/messaging/postgres/log.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <pqxx/pqxx>

#include <algorithm>
#include <chrono>

namespace bkr::rr_test {

std::vector<queued_message> queued_messages(const std::string& conninfo, const std::string& queue) {
  storage::connection_pool pool(storage::pool_options{conninfo, 1, std::chrono::seconds{10}});
  messaging::postgres::log_admin admin(pool);
  std::vector<std::string> queues;
  if (queue.empty()) {
    for (const auto& s : admin.stats())
      queues.push_back(s.queue);
  } else {
    queues.push_back(queue);
  }
  std::vector<messaging::waiting_message> waiting;
  for (const auto& q : queues)
    for (auto& w : admin.peek(q, 100000))
      waiting.push_back(std::move(w));
  std::stable_sort(waiting.begin(), waiting.end(),
                   [](const auto& a, const auto& b) { return a.enqueued_at < b.enqueued_at; });
  std::vector<queued_message> out;
  out.reserve(waiting.size());
  for (auto& w : waiting) {
    auto& e = w.message;
    out.push_back({e.message_id, w.queue, e.type, e.key, e.trace_id, e.producer, std::move(e.payload)});
  }
  return out;
}

std::int64_t message_count(const std::string& conninfo) {
  return static_cast<std::int64_t>(queued_messages(conninfo).size());
}

void execute(const std::string& conninfo, const std::string& sql) {
  pqxx::connection conn(conninfo);
  pqxx::nontransaction tx(conn);
  tx.exec(sql);
}

}  // namespace bkr::rr_test
