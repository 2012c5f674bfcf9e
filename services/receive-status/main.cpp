// bkr-receive-status: applies the backup interfaces' store status replies and records the Backups
// (backup-interface.store-status -> Succeeded / Failed).
#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/http_adapters.hpp"
#include "bkr/app/receive_status.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_job_repository.hpp"
#include "bkr/storage/backup_repository.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <iostream>
#include <memory>

int main(int argc, char** argv) {
  const bkr::app::worker_settings settings{"receive-status",
                                           std::string(bkr::domain::store_status_message.queue), 9084,
                                           bkr::app::adapter_config_keys()};
  auto loaded = bkr::app::load_worker_config(settings, argc, argv);
  if (!loaded.values)
    return loaded.exit_code;
  try {
    auto adapters = bkr::app::adapter_config_from(*loaded.values);
    if (!adapters) {
      std::cerr << bkr::app::executable_name(settings) << ": " << adapters.error().message << "\n";
      return 2;
    }
    bkr::app::worker_runtime runtime(settings, *loaded.values);
    const bkr::storage::backup_request_repository requests;
    const bkr::storage::backup_repository backups;
    const bkr::storage::backup_job_repository job_rows;
    std::unique_ptr<bkr::app::backup_job_service> jobs;
    if (adapters->job_service_http)
      jobs = std::make_unique<bkr::app::http_backup_job_service>(
          adapters->job_service, runtime.add_breaker("job-service", adapters->breaker), runtime.log());
    else
      jobs = std::make_unique<bkr::app::local_backup_job_service>(job_rows);
    bkr::app::receive_status stage(runtime.pool(), requests, backups, *jobs, runtime.clock());
    return runtime.run(stage);
  } catch (const std::exception& e) {
    std::cerr << bkr::app::executable_name(settings) << ": " << e.what() << "\n";
    return 1;
  }
}
