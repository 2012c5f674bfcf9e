// Helpers shared by the tests of the fake outside systems: waiting, child processes, queue contents, schemas.
#pragma once

#include "schema_check.hpp"

#include "bkr/domain/messages.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <nlohmann/json.hpp>

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace bkr::test {

using namespace std::chrono_literals;

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

/// A started executable with extra environment (the test's own BKR_* variables are not passed on) and its
/// stdout and stderr in a temporary file; SIGKILLed if still running when destroyed. Used by the test thread.
class child_process {
 public:
  child_process(const std::string& path, const std::map<std::string, std::string>& env);
  ~child_process();
  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  std::string output() const;
  /// The first JSON log line whose msg is `msg`; null when none yet.
  nlohmann::json log_line(const std::string& msg) const;
  /// Waits for the `started` log line and returns it (REQUIREs it within `timeout`).
  nlohmann::json wait_started(std::chrono::milliseconds timeout = 10s) const;
  void signal(int sig);
  /// Waits for the exit; the exit code, or -1 when it did not exit normally in time.
  int wait_exit(std::chrono::milliseconds timeout);

 private:
  std::filesystem::path log_;
  pid_t pid_ = -1;
};

/// A message not consumed yet (admin peek).
struct mq_row {
  messaging::envelope message;
  std::chrono::milliseconds delay{0};  ///< run_at - enqueued_at
};

/// Every message of `queue` not consumed yet (ready or delayed), oldest first.
std::vector<mq_row> mq_messages(storage::connection_pool& pool, const std::string& queue);
/// How many messages of `queue` are not consumed yet (ready or delayed).
std::size_t mq_count(storage::connection_pool& pool, const std::string& queue);
/// Dead letters of `queue`: {key, reason}.
std::vector<std::pair<std::string, std::string>> mq_dead_letters(storage::connection_pool& pool,
                                                                 const std::string& queue);

/// A store request as SendToInterface makes it.
domain::store_request sample_store_request(const std::string& id,
                                           domain::provider p = domain::provider::local,
                                           const std::string& job_id = "job-7");
/// Publishes store requests on their providers' queues in one committed transaction, as SendToInterface's
/// queue adapter does (type StoreRequest, dedup key StoreRequest:<id>, trace id `trace-<id>`).
void publish_store_requests(storage::connection_pool& pool,
                            const std::vector<domain::store_request>& requests);

/// The value of the sample `name{labels}` in a Prometheus exposition; nullopt when absent.
std::optional<double> metric_value(const std::string& exposition, const std::string& sample);

}  // namespace bkr::test
