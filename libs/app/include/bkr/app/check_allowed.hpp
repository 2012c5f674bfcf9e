// CheckAllowed: decides Allowed or NotAllowed from the request's backup job.
#pragma once

#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <string>

namespace bkr::app {

/// Consumes `backup-request.received`: reads the request (unknown id: app unknown_request, dead-lettered),
/// asks the job service for its job, applies domain::check_allowed (Allowed copies provider and storage
/// path; unknown job -> NotAllowed JobNotFound; inactive -> NotAllowed JobInactive), writes the status
/// with a compare-and-set and a history row, and publishes `backup-request.allowed` only when Allowed.
/// Already at or beyond the check: already_done without asking the job service. Job service without an
/// answer: dependency_unavailable (retried). `pool` is used only by prepare(), to read the batch's requests
/// when the job service wants a prefetch. Stateless; thread-safe. Its references must outlive it.
class check_allowed final : public stage {
 public:
  check_allowed(storage::connection_pool& pool, const storage::backup_request_repository& requests,
                backup_job_service& jobs, const bkr::clock& clock, std::string producer)
      : pool_(pool), requests_(requests), jobs_(jobs), clock_(clock), producer_(std::move(producer)) {}

  void prepare(std::span<const messaging::envelope> batch) override;
  result<stage_outcome> handle(storage::unit_of_work& uow, messaging::publisher& out,
                               const messaging::envelope& message) override;
  std::optional<std::vector<result<stage_outcome>>> handle_batch(
      storage::unit_of_work& uow, messaging::publisher& out,
      std::span<const messaging::envelope> batch) override;

 private:
  storage::connection_pool& pool_;
  const storage::backup_request_repository& requests_;
  backup_job_service& jobs_;
  const bkr::clock& clock_;
  std::string producer_;
};

}  // namespace bkr::app
