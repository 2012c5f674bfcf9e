// A migrated test database with a pool, queue helpers, sample requests and schema validation, shared by the
// pipeline stage integration tests.
#pragma once

#include "schema_check.hpp"

#include "bkr/app/stage.hpp"
#include "bkr/app/stage_handler.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/messaging/admin.hpp"
#include "bkr/messaging/consumer.hpp"
#include "bkr/messaging/postgres/log.hpp"
#include "bkr/messaging/postgres/notifier.hpp"
#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/backup_repository.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "pg_test_database.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace bkr::test {

using namespace std::chrono_literals;

/// Polls `condition` every few milliseconds until it holds or `timeout` passes; returns its last value.
bool eventually(const std::function<bool()>& condition, std::chrono::milliseconds timeout = 10s);

/// A message waiting on a queue (admin peek), with the attempts spent on it.
struct queued_message {
  messaging::envelope message;
  int attempt = 0;
  std::string last_error;
};

/// One test database and what the stage tests need around it. Used from the test's thread; the consumers
/// it makes run their own threads.
class app_fixture {
 public:
  app_fixture();
  ~app_fixture();

  storage::connection_pool& pool() { return pool_; }
  const std::string& conninfo() const { return db_.conninfo(); }
  const bkr::clock& clock() const { return clock_; }
  messaging::postgres::log_admin& admin() { return admin_; }

  const storage::backup_request_repository requests{};
  const storage::backup_repository backups{};
  const storage::backup_job_repository jobs{};

  /// Publishes `messages` in one committed transaction.
  void publish(std::vector<messaging::outgoing_message> messages);
  void publish(messaging::outgoing_message message) { publish(std::vector{std::move(message)}); }

  /// Test consumer settings: short lease, fast polling, fast retries with `max_attempts`.
  messaging::consumer_options consumer_options(const std::string& queue, int max_attempts = 10) const;
  /// A consumer with options `o` running `h`, not started and not woken by notifications (polling only).
  std::unique_ptr<messaging::consumer> new_consumer(messaging::consumer_options o, messaging::handler& h);
  /// A started consumer of `queue` running `h` (woken by the fixture's notifier).
  std::unique_ptr<messaging::consumer> start_consumer(const std::string& queue, messaging::handler& h,
                                                      int max_attempts = 10);
  /// Runs a consumer of `queue` with `h` until `done()` holds (or 10 s), stops it; returns done().
  bool consume_until(const std::string& queue, messaging::handler& h, const std::function<bool()>& done,
                     int max_attempts = 10);

  /// Messages not consumed yet on `queue` (ready, delayed or in hand), oldest first.
  std::vector<queued_message> queued(const std::string& queue);
  std::vector<messaging::dead_letter> dead_letters(const std::string& queue);
  /// Ready + delayed on `queue` (0 when it is empty).
  std::size_t depth(const std::string& queue);

  std::optional<domain::backup_request> request(const std::string& id);
  std::vector<domain::history_entry> history(const std::string& id);
  std::optional<domain::backup> backup_of(const std::string& id);
  std::size_t backup_count(const std::string& id);

  /// Stores `r` as it is (any status) with one history row into its status, as if earlier stages ran.
  void store_request(const domain::backup_request& r);
  void store_job(const domain::backup_job& job);

 private:
  pg_test_database db_;
  storage::connection_pool pool_;
  messaging::postgres::log_admin admin_;
  messaging::postgres::notifier notifier_;
  bkr::system_clock clock_;
};

// ---- samples ----

/// An active job on provider `p`, keeping backups 30 days.
domain::backup_job sample_job(std::string id = "job-7", domain::provider p = domain::provider::local);

/// The payload ReceiveRequest publishes for a new request of `job_id`.
domain::accepted_payload sample_accepted(std::string id, std::string job_id = "job-7");

/// A request at `status` with the fields and timestamps the earlier stages set (provider and storage path
/// from `job` from Allowed on).
domain::backup_request sample_request(std::string id, domain::request_status status,
                                      const domain::backup_job& job = sample_job());

/// A message of `contract`'s type for request `id` with `payload`, trace id `trace`, from the test.
messaging::outgoing_message message_for(const domain::message_contract& contract, const std::string& queue,
                                        const std::string& id, nlohmann::json payload,
                                        const std::string& trace = "trace-test");
messaging::outgoing_message accepted_message(const domain::accepted_payload& p,
                                             const std::string& trace = "trace-test");
messaging::outgoing_message received_message(const std::string& id);
messaging::outgoing_message allowed_message(const std::string& id);
/// A store status reply message; `reply` is sent as is (so tests can break fields).
messaging::outgoing_message status_message(const nlohmann::json& reply);

/// A complete success reply for request `id`.
nlohmann::json success_reply(const std::string& id);
/// A failure reply for request `id`.
nlohmann::json failure_reply(const std::string& id, const std::string& text = "disk full");

}  // namespace bkr::test
