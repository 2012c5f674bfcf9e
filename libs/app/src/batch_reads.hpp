// Private: reads the requests of a claimed batch outside its transaction, for adapters that call out in
// prepare().
#pragma once

#include "bkr/domain/types.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

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

}  // namespace bkr::app::detail
