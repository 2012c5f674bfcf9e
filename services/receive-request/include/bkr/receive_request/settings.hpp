// The configuration of bkr-receive-request: its keys (plus libs/auth's) and their validated, typed form.
#pragma once

#include "bkr/auth/settings.hpp"
#include "bkr/common/config.hpp"
#include "bkr/common/error.hpp"

#include <spdlog/common.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace bkr::receive_request {

/// The service name used in logs, metrics, /healthz and as the `producer` of the messages it publishes.
inline constexpr std::string_view service_name = "receive-request";

/// How accepted requests are written: see group_committer.
struct group_commit_options {
  std::size_t max_batch = 512;     ///< requests written by one transaction at most
  std::size_t max_pending = 8192;  ///< requests waiting for a writer at most; more are answered 503
  /// How long a request waits for its commit before it is answered 503 (Postgres unreachable or slow).
  std::chrono::milliseconds timeout{2000};
  std::size_t writers = 2;  ///< transactions in flight at once (each on its own thread and connection)
};

/// Everything the service needs, validated. Value type.
struct settings {
  std::string database_url;  ///< never logged
  std::size_t pool_size = 8;
  std::chrono::milliseconds connect_timeout{3000};
  std::chrono::milliseconds health_interval{1000};

  std::string http_bind = "127.0.0.1";
  std::uint16_t http_port = 8080;
  bool http_reuse_port = false;  ///< http.reuse_port: SO_REUSEPORT, for several instances on one port
  std::size_t http_threads = 2;
  std::size_t body_limit = 16384;
  std::size_t max_connections = 10000;

  group_commit_options group_commit;

  std::string ops_bind = "127.0.0.1";
  std::uint16_t ops_port = 9080;  ///< ops.port + 100 x instance.index (0: any)

  spdlog::level::level_enum log_level = spdlog::level::info;
  std::chrono::milliseconds drain_deadline{10000};
  bool migrate_on_start = false;

  auth::settings auth;
};

/// Every key the service reads: its own (database.*, http.*, group_commit.*, ops.*, log.level,
/// drain.deadline, migrate.on_start) followed by auth::config_keys().
const std::vector<config::key>& config_keys();

/// The typed settings from loaded values; fails (config::errc::invalid_value or auth::errc::
/// invalid_configuration) when values are inconsistent, e.g. no way to verify a token.
result<settings> settings_from(const config::values& values);

/// `conninfo` with `connect_timeout` added (libpq keyword/value string or postgres:// URI), unless it
/// already names one; so that an unreachable server costs a bounded wait, never a hang.
std::string with_connect_timeout(const std::string& conninfo, std::chrono::milliseconds timeout);

}  // namespace bkr::receive_request
