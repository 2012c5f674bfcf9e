// A no-op endpoint on bkr::http::server, to measure the HTTP ceiling of this machine in benchmarks.
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/http/server.hpp"

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <string_view>

namespace {

boost::asio::awaitable<bkr::http::response> noop(bkr::http::request) {
  co_return bkr::http::response::text(202, "{}", "application/json");
}

void usage() {
  std::cerr << "usage: bkr-http-noop [--port N] [--threads N] [--address A]\n"
               "serves POST /noop -> 202 {} until SIGINT or SIGTERM\n";
}

bool parse_number(std::string_view text, long min, long max, long& out) {
  try {
    std::size_t used = 0;
    const long v = std::stol(std::string(text), &used);
    if (used != text.size() || v < min || v > max)
      return false;
    out = v;
    return true;
  } catch (...) {
    return false;
  }
}

}  // namespace

int main(int argc, char** argv) {
  bkr::http::server_options options;
  options.port = 8089;
  options.threads = 2;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const bool has_value = i + 1 < argc;
    long v = 0;
    if (arg == "--port" && has_value && parse_number(argv[i + 1], 0, 65535, v)) {
      options.port = static_cast<std::uint16_t>(v);
      ++i;
    } else if (arg == "--threads" && has_value && parse_number(argv[i + 1], 1, 256, v)) {
      options.threads = static_cast<std::size_t>(v);
      ++i;
    } else if (arg == "--address" && has_value) {
      options.address = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    } else {
      std::cerr << "bad argument: " << arg << "\n";
      usage();
      return 2;
    }
  }

  // Block the stop signals before any thread starts, so that only sigwait below receives them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  bkr::logger log("http-noop", spdlog::level::warn);
  bkr::metrics::registry registry;
  bkr::http::router routes;
  routes.add(bkr::http::method::post, "/noop", &noop);
  bkr::http::server server(options, std::move(routes), registry, log);
  try {
    server.start();
  } catch (const std::exception& e) {
    std::cerr << e.what() << "\n";
    return 1;
  }
  std::printf("listening on %s:%u\n", options.address.c_str(), static_cast<unsigned>(server.port()));
  std::fflush(stdout);

  int received = 0;
  sigwait(&signals, &received);
  server.stop(std::chrono::seconds(5));
  return 0;
}
