// Port to the backup job service (read only), and its default adapter: the local `backup_job` table.
#pragma once

#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace bkr::app {

/// What the job service said about one job: the job; nullopt when it has no such job (a verdict:
/// JobNotFound); or an error when it gave no answer (`errc::dependency_unavailable`: retry later, never a
/// verdict).
using job_lookup = result<std::optional<domain::backup_job>>;

/// Finds backup jobs by id. Implementations are thread-safe: one instance serves every consumer thread.
///
/// Two-phase so that remote adapters never keep a database transaction waiting on the network: a stage
/// calls prefetch() with the job ids of a claimed batch before its transaction opens (only when
/// wants_prefetch() is true; it then reads the batch's requests to learn the ids), and find() for each
/// message inside the transaction. A remote adapter (`GET {base}/backup-jobs/{id}`: 200 -> job, 404 ->
/// nullopt, timeout/5xx/circuit open -> dependency_unavailable) makes its calls concurrently in prefetch()
/// with a timeout and a circuit breaker, keeps the answers, and serves find() from them.
class backup_job_service {
 public:
  virtual ~backup_job_service() = default;

  /// True when find() relies on prefetch() having been called for the job.
  virtual bool wants_prefetch() const { return false; }

  /// Outside any transaction, once per batch. Failures are remembered per job and reported by find().
  virtual void prefetch(std::span<const std::string> backup_job_ids) { (void)backup_job_ids; }

  /// Inside the stage's transaction `uow` (the local adapter reads through it).
  virtual job_lookup find(storage::unit_of_work& uow, std::string_view backup_job_id) = 0;
};

/// The default adapter: the `backup_job` table of our own database, read in the stage's transaction.
/// Stateless; thread-safe. The repository must outlive it.
class local_backup_job_service final : public backup_job_service {
 public:
  explicit local_backup_job_service(const storage::backup_job_repository& jobs) : jobs_(jobs) {}
  job_lookup find(storage::unit_of_work& uow, std::string_view backup_job_id) override;

 private:
  const storage::backup_job_repository& jobs_;
};

}  // namespace bkr::app
