// The configuration keys of bkr-receive-request and their translation into typed settings.
#include "bkr/receive_request/settings.hpp"

#include "bkr/common/log.hpp"

#include <algorithm>

namespace bkr::receive_request {

const std::vector<config::key>& config_keys() {
  using config::value_type;
  static const std::vector<config::key> keys = [] {
    std::vector<config::key> k{
        {.name = "database.url",
         .required = true,
         .secret = true,
         .help = "Postgres connection string (libpq keyword/value or postgres:// URI); may hold a password"},
        {.name = "database.pool_size",
         .type = value_type::integer,
         .default_value = "8",
         .help = "database connections at most: group_commit.writers for writes, the rest for reads "
                 "(GET, scope lookups)",
         .min = 2,
         .max = 256},
        {.name = "database.connect_timeout",
         .type = value_type::duration,
         .default_value = "3s",
         .help = "how long opening a database connection may take (added to the connection string "
                 "unless it names one)",
         .min = 1000,
         .max = 60'000},
        {.name = "database.health_interval",
         .type = value_type::duration,
         .default_value = "1s",
         .help = "how often Postgres is pinged for /readyz; while it is down, requests are answered 503 "
                 "at once",
         .min = 100,
         .max = 60'000},
        {.name = "http.bind", .default_value = "127.0.0.1", .help = "API listen address", .min = 1},
        {.name = "http.port",
         .type = value_type::integer,
         .default_value = "8080",
         .help = "API port (0: chosen by the system, logged at start)",
         .min = 0,
         .max = 65535},
        {
            .name = "http.reuse_port",
            .type = value_type::boolean,
            .default_value = "false",
            .help = "let several instances listen on http.port at once (SO_REUSEPORT: the kernel spreads new "
                    "connections over them); off, a second listener on the port fails to start",
        },
        {.name = "http.threads",
         .type = value_type::integer,
         .default_value = "2",
         .help = "I/O threads of the API server",
         .min = 1,
         .max = 64},
        {.name = "http.body_limit",
         .type = value_type::integer,
         .default_value = "16384",
         .help = "largest request body in bytes; more is answered 413",
         .min = 256,
         .max = 1 << 20},
        {.name = "http.max_connections",
         .type = value_type::integer,
         .default_value = "10000",
         .help = "open API connections at most; more are answered 503",
         .min = 1,
         .max = 1'000'000},
        {.name = "group_commit.max_batch",
         .type = value_type::integer,
         .default_value = "512",
         .help = "accepted requests written by one transaction at most",
         .min = 1,
         .max = 10'000},
        {.name = "group_commit.max_pending",
         .type = value_type::integer,
         .default_value = "8192",
         .help = "requests waiting for a database writer at most; more are answered 503 at once",
         .min = 1,
         .max = 1'000'000},
        {.name = "group_commit.timeout",
         .type = value_type::duration,
         .default_value = "2s",
         .help = "how long a request waits for its commit before it is answered 503",
         .min = 10,
         .max = 60'000},
        {.name = "group_commit.writers",
         .type = value_type::integer,
         .default_value = "2",
         .help = "write transactions in flight at once, each on its own thread and connection",
         .min = 1,
         .max = 32},
        {.name = "ops.bind",
         .default_value = "127.0.0.1",
         .help = "listen address of /livez /readyz /healthz /metrics",
         .min = 1},
        {.name = "ops.port",
         .type = value_type::integer,
         .default_value = "9080",
         .help = "port of the ops listener (0: chosen by the system, logged at start)",
         .min = 0,
         .max = 65535},
        config::instance_index_key(),
        {.name = "log.level",
         .default_value = "info",
         .help = "trace, debug, info, warn, error, critical or off",
         .one_of = {"trace", "debug", "info", "warn", "error", "critical", "off"}},
        {.name = "drain.deadline",
         .type = value_type::duration,
         .default_value = "10s",
         .help = "on SIGINT/SIGTERM: how long requests in flight may take to finish",
         .min = 0,
         .max = 600'000},
        {.name = "migrate.on_start",
         .type = value_type::boolean,
         .default_value = "false",
         .help = "apply pending database migrations (domain tables and queue schema) before serving"},
    };
    const auto& auth_keys = auth::config_keys();
    k.insert(k.end(), auth_keys.begin(), auth_keys.end());
    return k;
  }();
  return keys;
}

namespace {

bkr::error invalid(std::string message) {
  return {config::make_error_code(config::errc::invalid_value), std::move(message)};
}

}  // namespace

result<settings> settings_from(const config::values& values) {
  settings s;
  s.database_url = values.get_string("database.url");
  s.pool_size = static_cast<std::size_t>(values.get_int("database.pool_size"));
  s.connect_timeout = values.get_duration("database.connect_timeout");
  s.health_interval = values.get_duration("database.health_interval");
  s.http_bind = values.get_string("http.bind");
  s.http_port = static_cast<std::uint16_t>(values.get_int("http.port"));
  s.http_threads = static_cast<std::size_t>(values.get_int("http.threads"));
  s.body_limit = static_cast<std::size_t>(values.get_int("http.body_limit"));
  s.max_connections = static_cast<std::size_t>(values.get_int("http.max_connections"));
  s.group_commit.max_batch = static_cast<std::size_t>(values.get_int("group_commit.max_batch"));
  s.group_commit.max_pending = static_cast<std::size_t>(values.get_int("group_commit.max_pending"));
  s.group_commit.timeout = values.get_duration("group_commit.timeout");
  s.group_commit.writers = static_cast<std::size_t>(values.get_int("group_commit.writers"));
  s.ops_bind = values.get_string("ops.bind");
  const auto ops_port = config::instance_ops_port(values);
  if (!ops_port)
    return ops_port.error();
  s.ops_port = *ops_port;
  s.http_reuse_port = values.get_bool("http.reuse_port");
  s.log_level = *parse_log_level(values.get_string("log.level"));  // one_of guarantees a known name
  s.drain_deadline = values.get_duration("drain.deadline");
  s.migrate_on_start = values.get_bool("migrate.on_start");

  // Readers (GET, scope lookups) need at least one connection besides the writers, or they would wait
  // behind every group commit.
  if (s.pool_size < s.group_commit.writers + 1) {
    return invalid("database.pool_size (BKR_DATABASE_POOL_SIZE) must be at least group_commit.writers + 1 (" +
                   std::to_string(s.group_commit.writers + 1) + ")");
  }
  if (s.http_port != 0 && s.http_port == s.ops_port && s.http_bind == s.ops_bind)
    return invalid("http.port and ops.port must differ (both are " + std::to_string(s.http_port) + ")");

  auto a = auth::settings_from(values);
  if (!a)
    return a.error();
  s.auth = std::move(*a);
  return s;
}

std::string with_connect_timeout(const std::string& conninfo, std::chrono::milliseconds timeout) {
  if (conninfo.find("connect_timeout") != std::string::npos)
    return conninfo;
  // libpq counts whole seconds and treats anything below 2 as 2.
  const auto seconds = std::max<long long>(2, (timeout.count() + 999) / 1000);
  const bool uri = conninfo.starts_with("postgres://") || conninfo.starts_with("postgresql://");
  if (!uri)
    return conninfo + (conninfo.empty() ? "" : " ") + "connect_timeout=" + std::to_string(seconds);
  const char separator = conninfo.find('?') == std::string::npos ? '?' : '&';
  return conninfo + separator + "connect_timeout=" + std::to_string(seconds);
}

}  // namespace bkr::receive_request
