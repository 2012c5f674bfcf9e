// Configuration of a pipeline worker: the keys every worker reads, their typed form, and the start-up
// handling of --config, --print-config and --help.
#pragma once

#include "bkr/app/recover_stalled.hpp"
#include "bkr/common/config.hpp"
#include "bkr/common/error.hpp"
#include "bkr/messaging/retry_policy.hpp"

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

namespace bkr::app {

/// What differs between the worker executables. Value type.
struct worker_settings {
  std::string stage;                   ///< e.g. `create-request`; the executable is `bkr-<stage>`
  std::string queue;                   ///< the queue it consumes
  std::uint16_t default_ops_port = 0;  ///< ops.port default (9081..9084)
  /// Keys this worker reads on top of the common ones (e.g. its outbound adapters'), validated, shown by
  /// --help and --print-config, and accepted in the JSON file like every other key.
  std::vector<config::key> extra_keys = {};
};

/// `bkr-<stage>`: the log `service`, the `producer` of published messages, the process name.
std::string executable_name(const worker_settings& settings);

/// Every key a worker reads, with this worker's ops.port default (documented in libs/app/README.md).
std::vector<config::key> worker_config_keys(const worker_settings& settings);

/// The validated, typed configuration of a worker.
struct worker_config {
  std::string database_url;  ///< secret: never logged
  std::size_t pool_size = 4;
  std::chrono::milliseconds acquire_timeout{5000};
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::string ops_bind = "127.0.0.1";
  std::uint16_t ops_port = 0;  ///< ops.port + 100 x instance.index (0: any)
  std::size_t batch_size = 64;
  bool synchronous_commit = false;  ///< consumer.synchronous_commit
  std::chrono::milliseconds lease{5000};
  std::chrono::milliseconds poll_min{20};
  std::chrono::milliseconds poll_max{1000};
  std::size_t threads = 1;
  messaging::retry_policy retry;
  std::chrono::milliseconds drain_deadline{10000};
  bool migrate_on_start = false;
  bool recovery_enabled = true;
  std::chrono::milliseconds recovery_interval{30000};
  recovery_options recovery;
  std::chrono::milliseconds stats_interval{5000};
};

/// Converts loaded values (of worker_config_keys) and checks the rules that span keys (a pool large enough
/// for the consumers, the stats poller and the recovery sweep).
result<worker_config> to_worker_config(const config::values& values);

/// The outcome of start-up argument and configuration handling.
struct loaded_config {
  std::optional<config::values> values;  ///< set when the worker should start
  int exit_code = 0;                     ///< when it should not: 0 after --help/--print-config, 2 on errors
};

/// Parses `--config FILE`, `--print-config` and `--help`, loads `BKR_*` over the optional file
/// (`--config` wins over `BKR_CONFIG_FILE`) and validates. `--help` prints the keys to `out`;
/// `--print-config` prints the effective configuration with secrets masked; problems go to `err` naming
/// every bad key and its variable.
loaded_config load_worker_config(const worker_settings& settings, int argc, const char* const* argv,
                                 std::ostream& out, std::ostream& err);
/// Same with the process environment, std::cout and std::cerr.
loaded_config load_worker_config(const worker_settings& settings, int argc, const char* const* argv);

}  // namespace bkr::app
