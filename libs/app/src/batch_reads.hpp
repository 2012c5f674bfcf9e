// Private helpers of the stages' batch paths: reads of a claimed batch outside its transaction (for adapters
// that call out in prepare()), result slots, and job lookups asked once per batch.
#pragma once

#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <map>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace bkr::app::detail {

/// The `backupRequestId` of each message's payload, skipping messages without a readable one (their
/// handle() reports the problem).
std::vector<std::string> payload_request_ids(std::span<const messaging::envelope> batch);

/// The stored requests among `ids`, read in one short read-only transaction. Infrastructure failures
/// throw (the caller logs them; handle() then finds no prefetched answer and retries).
std::vector<domain::backup_request> read_requests(storage::connection_pool& pool,
                                                  const storage::backup_request_repository& requests,
                                                  std::span<const std::string> ids);

/// The results of a batch while its messages are decided: one slot per message, empty until decided.
using batch_slots = std::vector<std::optional<result<stage_outcome>>>;

/// The decided results, in order. Every slot must be filled (std::logic_error otherwise).
std::vector<result<stage_outcome>> take_results(batch_slots& slots);

/// Whether a backup request id appears twice: such batches go message by message, in order.
bool has_duplicates(std::span<const std::string> ids);

/// Job lookups of one batch, each job asked once (many requests of a batch share their job).
class job_lookups {
 public:
  job_lookups(backup_job_service& jobs, storage::unit_of_work& uow) : jobs_(jobs), uow_(uow) {}
  const job_lookup& find(const std::string& backup_job_id);

 private:
  backup_job_service& jobs_;
  storage::unit_of_work& uow_;
  std::map<std::string, job_lookup> found_;
};

}  // namespace bkr::app::detail
