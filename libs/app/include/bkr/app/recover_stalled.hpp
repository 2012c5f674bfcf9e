// Recovery of stalled requests: re-publishes the message of requests stuck in Received or Allowed without a
// pending message, paced, by one leader per database at a time; and the periodic sweep that runs it.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/log.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <nlohmann/json.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

namespace bkr::app {

struct recovery_options {
  /// A request counts as stalled once it has sat in Received (since receivedTimestamp) or Allowed (since
  /// checkedTimestamp) for longer than this.
  std::chrono::milliseconds older_than{120'000};
  /// At most this many messages are re-published per run (pacing: a backlog drains over several runs).
  std::size_t limit = 500;
};

/// A candidate for recovery.
struct stalled_request {
  std::string backup_request_id;
  domain::request_status status = domain::request_status::received;
  timestamp since{};                 ///< when it reached `status`
  bool has_pending_message = false;  ///< its stage's queue still holds a message for it

  friend bool operator==(const stalled_request&, const stalled_request&) = default;
};

/// Pure pacing rule: the candidates without a pending message, oldest first across both statuses, at most
/// `limit` of them.
std::vector<stalled_request> plan_recovery(std::vector<stalled_request> candidates, std::size_t limit);

struct recovery_report {
  bool leader = false;       ///< false: another process held the recovery lock; nothing was looked at
  std::string run_id;        ///< names the run in trace ids
  std::size_t received = 0;  ///< re-published on backup-request.received
  std::size_t allowed = 0;   ///< re-published on backup-request.allowed
  std::size_t pending = 0;   ///< stalled candidates skipped because a message for them is still queued

  nlohmann::json to_json() const;
};

/// Port: which of `keys` (backupRequestIds) still have a message on `queue`, read in `uow`. A message that
/// is not consumed yet (after its cursor, or in the delay lane) counts, and so does a dead letter: a
/// dead-lettered request is the operator's to redrive (`bkrctl dead-letters redrive`), never re-published by
/// the sweep, so that poison never loops.
class pending_messages {
 public:
  virtual ~pending_messages() = default;
  virtual std::set<std::string> pending(storage::unit_of_work& uow, std::string_view queue,
                                        std::span<const std::string> keys) = 0;
};

/// pending_messages over the Postgres backend (messaging::postgres::pending_keys).
class postgres_pending_messages final : public pending_messages {
 public:
  std::set<std::string> pending(storage::unit_of_work& uow, std::string_view queue,
                                std::span<const std::string> keys) override;
};

/// The transaction-level advisory lock that makes one run at a time the leader per database.
inline constexpr std::int64_t recovery_lock_key = 0x626b722d72656376;  // "bkr-recv"

/// One recovery run in one transaction: take pg_try_advisory_xact_lock(recovery_lock_key) (not obtained:
/// report leader = false and do nothing), read the stalled requests, skip those with a pending message,
/// and publish `backup-request.received` / `backup-request.allowed` for the rest (plan_recovery), then
/// commit. The messages carry the pipeline's types and payloads, trace id `recovery-<run id>`, and the
/// de-duplication key `<type>:<backupRequestId>:recovery:<run id>`: the pipeline's own key is remembered
/// after its message finished, so re-using it would make the re-publish a silent no-op. The stages being
/// idempotent, a message re-published while the original is somehow still on its way is acknowledged as
/// already done. Thread-safe (each run uses its own pooled connection); its references must outlive it.
class recover_stalled {
 public:
  recover_stalled(storage::connection_pool& pool, const storage::backup_request_repository& requests,
                  pending_messages& pending, const bkr::clock& clock, std::string producer)
      : pool_(pool), requests_(requests), pending_(pending), clock_(clock), producer_(std::move(producer)) {}

  recovery_report run_once(const recovery_options& options);

 private:
  storage::connection_pool& pool_;
  const storage::backup_request_repository& requests_;
  pending_messages& pending_;
  const bkr::clock& clock_;
  std::string producer_;
};

/// One run with the default repository, the Postgres pending-message probe and the system clock: what
/// `bkrctl recover` calls.
recovery_report recover_stalled_requests(storage::connection_pool& pool, const recovery_options& options,
                                         std::string producer = "bkrctl");

/// Runs recover_stalled every `interval` on its own thread (the first run after one interval). Failures are
/// logged and the next run comes at the next interval. start() once; stop() joins (also in the
/// destructor). Thread-safe. The use case must outlive it.
class recovery_sweeper {
 public:
  recovery_sweeper(recover_stalled& recovery, recovery_options options, std::chrono::milliseconds interval,
                   std::optional<bkr::logger> log = std::nullopt);
  ~recovery_sweeper();
  recovery_sweeper(const recovery_sweeper&) = delete;
  recovery_sweeper& operator=(const recovery_sweeper&) = delete;

  void start();
  void stop();
  /// The last completed run's report, if any.
  std::optional<recovery_report> last_report() const;
  std::uint64_t runs() const { return runs_.load(); }

 private:
  void loop();

  recover_stalled& recovery_;
  recovery_options options_;
  std::chrono::milliseconds interval_;
  std::optional<bkr::logger> log_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::optional<recovery_report> last_;
  std::atomic<std::uint64_t> runs_{0};
  std::thread thread_;
};

}  // namespace bkr::app
