// bkr-receive-status: applies the backup interfaces' store status replies and records the Backups
// (backup-interface.store-status -> Succeeded / Failed).
#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/receive_status.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/backup_repository.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <iostream>

int main(int argc, char** argv) {
  const bkr::app::worker_settings settings{"receive-status",
                                           std::string(bkr::domain::store_status_message.queue), 9084};
  auto loaded = bkr::app::load_worker_config(settings, argc, argv);
  if (!loaded.values)
    return loaded.exit_code;
  try {
    bkr::app::worker_runtime runtime(settings, *loaded.values);
    const bkr::storage::backup_request_repository requests;
    const bkr::storage::backup_repository backups;
    const bkr::storage::backup_job_repository job_rows;
    // The HTTP job service adapter plugs in here (with its breaker: runtime.add_breaker) when configured.
    bkr::app::local_backup_job_service jobs(job_rows);
    bkr::app::receive_status stage(runtime.pool(), requests, backups, jobs, runtime.clock());
    return runtime.run(stage);
  } catch (const std::exception& e) {
    std::cerr << bkr::app::executable_name(settings) << ": " << e.what() << "\n";
    return 1;
  }
}
