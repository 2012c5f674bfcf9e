// CreateRequest: persists an accepted backup request as Received and hands it to CheckAllowed.
#pragma once

#include "bkr/app/stage.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <string>

namespace bkr::app {

/// Consumes `backup-request.accepted`: validates the payload, applies domain::receive and writes the
/// request with its first history row (Accepted -> Received), or moves a request stored at intake from
/// Accepted with a compare-and-set; publishes `backup-request.received` {backupRequestId} in the same
/// transaction. A request already stored beyond Accepted is a redelivery: already_done, nothing written.
/// Bad payload: domain bad_data (dead-lettered). Stateless; thread-safe. Its references must outlive it.
class create_request final : public stage {
 public:
  create_request(const storage::backup_request_repository& requests, const bkr::clock& clock,
                 std::string producer)
      : requests_(requests), clock_(clock), producer_(std::move(producer)) {}

  result<stage_outcome> handle(storage::unit_of_work& uow, messaging::publisher& out,
                               const messaging::envelope& message) override;
  std::optional<std::vector<result<stage_outcome>>> handle_batch(
      storage::unit_of_work& uow, messaging::publisher& out,
      std::span<const messaging::envelope> batch) override;

 private:
  const storage::backup_request_repository& requests_;
  const bkr::clock& clock_;
  std::string producer_;
};

}  // namespace bkr::app
