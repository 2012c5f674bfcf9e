// bkr-fake-backup-job-service: answers GET /backup-jobs/{id} like the backup job service. Composition only.
#include "bkr/common/log.hpp"
#include "bkr/fake_backup_job_service/service.hpp"
#include "bkr/fake_backup_job_service/settings.hpp"

#include <pthread.h>
#include <signal.h>

#include <iostream>

namespace fjs = bkr::fake_backup_job_service;

int main(int argc, char** argv) {
  auto loaded = fjs::load_settings(argc, argv, bkr::config::process_sources(), std::cout, std::cerr);
  if (!loaded.value)
    return loaded.exit_code;

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  bkr::logger log(std::string(fjs::service_name), loaded.value->log_level);
  const bkr::system_clock clock;
  try {
    log.info("starting", {{"config", loaded.raw.to_json(true)}});
    fjs::service service(std::move(*loaded.value), log, clock);
    service.start();
    log.info("started", {{"httpPort", service.port()}, {"opsPort", service.ops_port()}});
    int received = 0;
    sigwait(&stop_signals, &received);
    log.info("stop signal received", {{"signal", received == SIGINT ? "SIGINT" : "SIGTERM"}});
    service.stop();
  } catch (const std::exception& e) {
    log.error("bkr-fake-backup-job-service failed", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
