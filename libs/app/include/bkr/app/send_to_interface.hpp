// SendToInterface: hands an allowed request to its provider's backup interface and marks it Sent.
#pragma once

#include "bkr/app/backup_interface.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <string>

namespace bkr::app {

/// Consumes `backup-request.allowed`: reads the request (unknown id: unknown_request), applies
/// domain::mark_sent, writes Allowed -> Sent with a compare-and-set and a history row, then hands the store
/// request to the interface port (the queue adapter publishes it in the same transaction). Sent or beyond:
/// already_done, nothing handed over again. `pool` is used only by prepare(), when the interface adapter
/// wants the batch's store requests before the transaction. Stateless; thread-safe. Its references must
/// outlive it.
class send_to_interface final : public stage {
 public:
  send_to_interface(storage::connection_pool& pool, const storage::backup_request_repository& requests,
                    backup_interface& interface, const bkr::clock& clock)
      : pool_(pool), requests_(requests), interface_(interface), clock_(clock) {}

  void prepare(std::span<const messaging::envelope> batch) override;
  result<stage_outcome> handle(storage::unit_of_work& uow, messaging::publisher& out,
                               const messaging::envelope& message) override;
  std::optional<std::vector<result<stage_outcome>>> handle_batch(
      storage::unit_of_work& uow, messaging::publisher& out,
      std::span<const messaging::envelope> batch) override;

 private:
  storage::connection_pool& pool_;
  const storage::backup_request_repository& requests_;
  backup_interface& interface_;
  const bkr::clock& clock_;
};

}  // namespace bkr::app
