// Reading what the service published (messages not consumed yet, through the messaging admin port), and
// one-off statements for test setup.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace bkr::rr_test {

/// One message waiting on a queue as the tests look at it.
struct queued_message {
  std::string message_id;
  std::string queue;
  std::string type;
  std::string key;
  std::string trace_id;
  std::string producer;
  nlohmann::json payload;
};

/// Every message not consumed yet of `queue` (of every queue when empty), oldest first.
std::vector<queued_message> queued_messages(const std::string& conninfo, const std::string& queue = {});

/// Number of messages not consumed yet, over every queue.
std::int64_t message_count(const std::string& conninfo);

/// Runs one statement (test setup: drop a table, add a row) on its own connection.
void execute(const std::string& conninfo, const std::string& sql);

}  // namespace bkr::rr_test
