// bkr-send-to-interface: hands allowed requests to their provider's backup interface and marks them Sent
// (backup-request.allowed -> backup-interface.<provider>.store-request).
#include "bkr/app/backup_interface.hpp"
#include "bkr/app/send_to_interface.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <iostream>

int main(int argc, char** argv) {
  const bkr::app::worker_settings settings{"send-to-interface",
                                           std::string(bkr::domain::allowed_message.queue), 9083};
  auto loaded = bkr::app::load_worker_config(settings, argc, argv);
  if (!loaded.values)
    return loaded.exit_code;
  try {
    bkr::app::worker_runtime runtime(settings, *loaded.values);
    const bkr::storage::backup_request_repository requests;
    // The HTTP interface adapter plugs in here (with its breaker: runtime.add_breaker) when configured.
    bkr::app::queue_backup_interface interface(runtime.clock(), runtime.producer());
    bkr::app::send_to_interface stage(runtime.pool(), requests, interface, runtime.clock());
    return runtime.run(stage);
  } catch (const std::exception& e) {
    std::cerr << bkr::app::executable_name(settings) << ": " << e.what() << "\n";
    return 1;
  }
}
