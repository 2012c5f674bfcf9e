// bkr-create-request: persists accepted backup requests as Received (backup-request.accepted ->
// backup-request.received).
#include "bkr/app/create_request.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <iostream>

int main(int argc, char** argv) {
  const bkr::app::worker_settings settings{"create-request", std::string(bkr::domain::accepted_message.queue),
                                           9081};
  auto loaded = bkr::app::load_worker_config(settings, argc, argv);
  if (!loaded.values)
    return loaded.exit_code;
  try {
    bkr::app::worker_runtime runtime(settings, *loaded.values);
    const bkr::storage::backup_request_repository requests;
    bkr::app::create_request stage(requests, runtime.clock(), runtime.producer());
    return runtime.run(stage);
  } catch (const std::exception& e) {
    std::cerr << bkr::app::executable_name(settings) << ": " << e.what() << "\n";
    return 1;
  }
}
