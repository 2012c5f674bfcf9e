// The configuration of bkr-fake-backup-job-service: its keys and their validated, typed form.
#pragma once

#include "bkr/common/config.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/fake_backup_job_service/faults.hpp"

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::fake_backup_job_service {

/// The executable's name: the log `service` and the /healthz `service`.
inline constexpr std::string_view service_name = "bkr-fake-backup-job-service";

/// Everything the service needs, validated; the jobs are already read. Value type.
struct settings {
  std::string http_bind = "127.0.0.1";
  std::uint16_t http_port = 8090;
  std::size_t http_threads = 1;
  std::string ops_bind = "127.0.0.1";
  std::uint16_t ops_port = 9086;
  std::string jobs_file;  ///< empty: the demo jobs
  std::vector<domain::backup_job> jobs;
  fault_settings faults;
  spdlog::level::level_enum log_level = spdlog::level::info;
  std::chrono::milliseconds drain_deadline{2000};
};

/// Every key (documented in tools/fake-backup-job-service/README.md).
const std::vector<config::key>& config_keys();

/// The typed settings, with the jobs read from fake.jobs_file (or the demo jobs); config::errc naming the
/// bad key (and the bad job) otherwise.
result<settings> settings_from(const config::values& values);

/// The outcome of start-up argument and configuration handling.
struct loaded_settings {
  std::optional<settings> value;  ///< set when the process should start
  config::values raw;             ///< what was loaded (for the `starting` log line)
  int exit_code = 0;              ///< when it should not: 0 after --help or --print-config, 2 on errors
};

/// Handles `--config FILE`, `--print-config` and `--help`, loads `BKR_*` over the optional file and
/// validates. Help and the effective configuration go to `out`; problems to `err`.
loaded_settings load_settings(int argc, const char* const* argv, const config::sources& environment,
                              std::ostream& out, std::ostream& err);

}  // namespace bkr::fake_backup_job_service
