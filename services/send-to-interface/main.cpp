// bkr-send-to-interface: hands allowed requests to their provider's backup interface and marks them Sent
// (backup-request.allowed -> backup-interface.<provider>.store-request).
#include "bkr/app/backup_interface.hpp"
#include "bkr/app/http_adapters.hpp"
#include "bkr/app/send_to_interface.hpp"
#include "bkr/app/worker_runtime.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/storage/backup_request_repository.hpp"

#include <iostream>
#include <memory>

int main(int argc, char** argv) {
  const bkr::app::worker_settings settings{"send-to-interface",
                                           std::string(bkr::domain::allowed_message.queue), 9083,
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
    std::unique_ptr<bkr::app::backup_interface> interface;
    if (adapters->interface_http)
      interface = std::make_unique<bkr::app::http_backup_interface>(
          adapters->interface, runtime.add_breaker("backup-interface", adapters->breaker), runtime.log());
    else
      interface = std::make_unique<bkr::app::queue_backup_interface>(runtime.clock(), runtime.producer());
    bkr::app::send_to_interface stage(runtime.pool(), requests, *interface, runtime.clock());
    return runtime.run(stage);
  } catch (const std::exception& e) {
    std::cerr << bkr::app::executable_name(settings) << ": " << e.what() << "\n";
    return 1;
  }
}
