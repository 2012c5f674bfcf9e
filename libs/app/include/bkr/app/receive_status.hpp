// ReceiveStatus: applies a backup interface's store status reply and records the Backup.
#pragma once

#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/common/clock.hpp"
#include "bkr/storage/backup_repository.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

namespace bkr::app {

/// Consumes `backup-interface.store-status`: validates the reply (bad fields: domain bad_data naming the
/// field, dead-lettered), locks the request row (unknown id: unknown_request "unknown backupRequestId",
/// dead-lettered), checks whether a Backup exists, asks the job service for daysToKeep/holdFlag when a
/// Backup is to be created, applies domain::apply_store_status_reply, and writes the Backup (at most one
/// per request) and the request's transition with its history row in the same transaction. Replies for one
/// request are serialized by the row lock, so a success and a failure racing each other cannot leave a
/// Backup beside a Failed request. Produces no message. Stateless; thread-safe. Its references must outlive
/// it.
class receive_status final : public stage {
 public:
  receive_status(storage::connection_pool& pool, const storage::backup_request_repository& requests,
                 const storage::backup_repository& backups, backup_job_service& jobs, const bkr::clock& clock)
      : pool_(pool), requests_(requests), backups_(backups), jobs_(jobs), clock_(clock) {}

  void prepare(std::span<const messaging::envelope> batch) override;
  result<stage_outcome> handle(storage::unit_of_work& uow, messaging::publisher& out,
                               const messaging::envelope& message) override;
  std::optional<std::vector<result<stage_outcome>>> handle_batch(
      storage::unit_of_work& uow, messaging::publisher& out,
      std::span<const messaging::envelope> batch) override;

 private:
  storage::connection_pool& pool_;
  const storage::backup_request_repository& requests_;
  const storage::backup_repository& backups_;
  backup_job_service& jobs_;
  const bkr::clock& clock_;
};

}  // namespace bkr::app
