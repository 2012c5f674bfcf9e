// bkr-fake-backup-interface: answers store requests like the providers' backup interfaces. Composition only.
#include "bkr/common/log.hpp"
#include "bkr/fake_backup_interface/service.hpp"
#include "bkr/fake_backup_interface/settings.hpp"

#include <pthread.h>
#include <signal.h>

#include <iostream>

namespace fbi = bkr::fake_backup_interface;

int main(int argc, char** argv) {
  auto loaded = fbi::load_settings(argc, argv, bkr::config::process_sources(), std::cout, std::cerr);
  if (!loaded.value)
    return loaded.exit_code;

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  bkr::logger log(std::string(fbi::service_name), loaded.value->log_level);
  const bkr::system_clock clock;
  try {
    log.info("starting", {{"config", loaded.raw.to_json(true)}});
    fbi::service service(std::move(*loaded.value), log, clock);
    service.start();
    log.info("started", {{"httpPort", service.http_port()}, {"opsPort", service.ops_port()}});
    int received = 0;
    sigwait(&stop_signals, &received);
    log.info("stop signal received", {{"signal", received == SIGINT ? "SIGINT" : "SIGTERM"}});
    service.stop();
  } catch (const std::exception& e) {
    log.error("bkr-fake-backup-interface failed", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
