// Row mapping helpers of the Postgres backend.
#include "sql.hpp"

#include <algorithm>
#include <stdexcept>

namespace bkr::messaging::postgres::detail {

void validate_outgoing(const outgoing_message& m) {
  if (!is_valid_queue_name(m.queue))
    throw std::invalid_argument("invalid queue name: " + m.queue);
  if (m.message.message_id.empty() || m.message.type.empty())
    throw std::invalid_argument("message id and type are required");
}

std::string uuid_array(const std::vector<std::string>& ids) {
  std::string out = "{";
  for (std::size_t i = 0; i < ids.size(); ++i) {
    if (i != 0)
      out += ',';
    out += ids[i];
  }
  out += '}';
  return out;
}

timestamp epoch_ms(const pqxx::field& f) {
  return timestamp{std::chrono::milliseconds{f.as<long long>()}};
}

envelope envelope_from_row(const pqxx::row& row, int first, std::string* payload_error) {
  envelope e;
  e.message_id = row[first].as<std::string>();
  e.type = row[first + 1].as<std::string>();
  e.schema_version = row[first + 2].as<int>();
  e.key = row[first + 3].as<std::string>();
  e.occurred_at = epoch_ms(row[first + 4]);
  e.trace_id = row[first + 5].as<std::string>();
  e.producer = row[first + 6].as<std::string>();
  const char* payload = row[first + 7].c_str();
  if (payload_error == nullptr) {
    e.payload = nlohmann::json::parse(payload);
    return e;
  }
  try {
    e.payload = nlohmann::json::parse(payload);
  } catch (const nlohmann::json::exception& error) {
    *payload_error = error.what();
    e.payload = payload;
  }
  return e;
}

waiting_message waiting_from_row(const pqxx::row& row, std::string queue) {
  waiting_message w;
  w.queue = std::move(queue);
  std::string unreadable;
  w.message = envelope_from_row(row, 5, &unreadable);
  w.message.attempt = row[0].as<int>();
  w.enqueued_at = epoch_ms(row[1]);
  w.run_at = epoch_ms(row[2]);
  w.delayed = row[3].as<bool>();
  w.last_error = row[4].as<std::string>();
  return w;
}

}  // namespace bkr::messaging::postgres::detail
