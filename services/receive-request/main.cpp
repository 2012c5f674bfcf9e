// bkr-receive-request: the HTTP intake (POST/GET backup requests, store status replies). Composition only.
#include "bkr/common/config.hpp"
#include "bkr/common/log.hpp"
#include "bkr/receive_request/service.hpp"
#include "bkr/receive_request/settings.hpp"

#include <csignal>
#include <iostream>

namespace rr = bkr::receive_request;

int main(int argc, char** argv) {
  auto args = bkr::config::parse_service_args(argc, argv);
  if (!args) {
    std::cerr << "bkr-receive-request: " << args.error().message << "\n";
    return 2;
  }
  if (args->help) {
    std::cout << "usage: bkr-receive-request [--config FILE] [--print-config]\n\nconfiguration (environment "
                 "variables; the same keys in the JSON file):\n"
              << bkr::config::describe(rr::config_keys());
    return 0;
  }
  auto sources = bkr::config::process_sources();
  if (args->config_file)
    sources.file_path = args->config_file;
  auto values = bkr::config::load(rr::config_keys(), sources);
  if (!values) {
    std::cerr << "bkr-receive-request: " << values.error().message << "\n";
    return 2;
  }
  if (args->print_config) {
    std::cout << values->to_json(true).dump(2) << "\n";
    return 0;
  }
  auto settings = rr::settings_from(*values);
  if (!settings) {
    std::cerr << "bkr-receive-request: " << settings.error().message << "\n";
    return 2;
  }

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  bkr::logger log(std::string(rr::service_name), settings->log_level);
  const bkr::system_clock clock;
  try {
    rr::service service(std::move(*settings), log, clock);
    service.start();
    int received = 0;
    sigwait(&stop_signals, &received);
    log.info("stop signal received", {{"signal", received == SIGINT ? "SIGINT" : "SIGTERM"}});
    service.stop();
  } catch (const std::exception& e) {
    log.error("bkr-receive-request failed", {{"error", e.what()}});
    return 1;
  }
  return 0;
}
