// The worker configuration keys, their conversion, and --help / --print-config handling.
#include "bkr/app/worker_config.hpp"

#include "bkr/common/log.hpp"
#include "bkr/messaging/postgres/backend.hpp"

#include <iostream>

namespace bkr::app {

std::string executable_name(const worker_settings& settings) {
  return "bkr-" + settings.stage;
}

std::vector<config::key> worker_config_keys(const worker_settings& settings) {
  using config::value_type;
  constexpr long long hour_ms = 3'600'000;
  std::vector<config::key> keys{
      {.name = "database.url",
       .required = true,
       .secret = true,
       .help = "Postgres connection string (libpq keyword/value or URI)"},
      {.name = "database.pool_size",
       .type = value_type::integer,
       .default_value = "4",
       .help = "database connections at most (consumer.threads + 2 at least)",
       .min = 1,
       .max = 256},
      {.name = "database.acquire_timeout",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "longest wait for a free pooled connection",
       .min = 1,
       .max = hour_ms},
      {.name = "log.level",
       .default_value = "info",
       .help = "log level",
       .one_of = {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      {.name = "ops.bind",
       .default_value = "127.0.0.1",
       .help = "address of the ops listener (/livez /readyz /healthz /metrics)",
       .min = 1},
      {.name = "ops.port",
       .type = value_type::integer,
       .default_value = std::to_string(settings.default_ops_port),
       .help = "port of the ops listener (0: any)",
       .min = 0,
       .max = 65535},
      config::instance_index_key(),
      {.name = "ops.stats_interval",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "how often queue depth, oldest age and database reachability are refreshed",
       .min = 100,
       .max = hour_ms},
      {.name = "consumer.batch_size",
       .type = value_type::integer,
       .default_value = "64",
       .help = "messages claimed and settled per transaction",
       .min = 1,
       .max = 10000},
      {.name = "consumer.lease",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "how long a transaction (a batch's or any other) or the partition-ownership session may stay "
               "silent before the server ends it: a stopped or hung worker holds no queue back and its "
               "partitions "
               "are free after it (a killed one's at once)",
       .min = 100,
       .max = hour_ms},
      {.name = "consumer.poll_min",
       .type = value_type::duration,
       .default_value = "20ms",
       .help = "first idle wait after an empty claim",
       .min = 1,
       .max = hour_ms},
      {.name = "consumer.poll_max",
       .type = value_type::duration,
       .default_value = "1s",
       .help = "longest idle wait between claims (polling backstop behind LISTEN/NOTIFY)",
       .min = 1,
       .max = hour_ms},
      {.name = "consumer.threads",
       .type = value_type::integer,
       .default_value = "1",
       .help = "consumers of the queue in this process, each on its own thread",
       .min = 1,
       .max = 64},
      {.name = "consumer.synchronous_commit",
       .type = value_type::boolean,
       .default_value = "false",
       .help = "wait for the WAL flush at every settlement (off: a database crash may undo the last "
               "settlements, whose messages then run again; the 202 of ReceiveRequest is always durable)"},
      {.name = "retry.max_attempts",
       .type = value_type::integer,
       .default_value = "10",
       .help = "attempts before a message is dead-lettered",
       .min = 1,
       .max = 1000},
      {.name = "retry.base",
       .type = value_type::duration,
       .default_value = "2s",
       .help = "backoff ceiling after the first failed attempt (doubles, full jitter)",
       .min = 1,
       .max = hour_ms},
      {.name = "retry.cap",
       .type = value_type::duration,
       .default_value = "5m",
       .help = "largest backoff between attempts",
       .min = 1,
       .max = 24 * hour_ms},
      {.name = "drain.deadline",
       .type = value_type::duration,
       .default_value = "10s",
       .help = "on SIGINT/SIGTERM, how long work in flight may finish (keep pm2 kill_timeout above it)",
       .min = 0,
       .max = hour_ms},
      {.name = "migrate.on_start",
       .type = value_type::boolean,
       .default_value = "false",
       .help = "apply pending database migrations before starting"},
      {.name = "recovery.enabled",
       .type = value_type::boolean,
       .default_value = "true",
       .help = "run the stalled-request sweep (one leader per database at a time)"},
      {.name = "recovery.interval",
       .type = value_type::duration,
       .default_value = "30s",
       .help = "time between sweeps",
       .min = 100,
       .max = 24 * hour_ms},
      {.name = "recovery.older_than",
       .type = value_type::duration,
       .default_value = "2m",
       .help = "a request stuck this long in Received or Allowed without a pending message is re-published",
       .min = 1,
       .max = 30 * 24 * hour_ms},
      {.name = "recovery.limit",
       .type = value_type::integer,
       .default_value = "500",
       .help = "re-publishes per sweep at most",
       .min = 1,
       .max = 100000},
  };
  keys.insert(keys.end(), settings.extra_keys.begin(), settings.extra_keys.end());
  return keys;
}

result<worker_config> to_worker_config(const config::values& v) {
  worker_config c;
  c.database_url = v.get_string("database.url");
  c.pool_size = static_cast<std::size_t>(v.get_int("database.pool_size"));
  c.acquire_timeout = v.get_duration("database.acquire_timeout");
  c.log_level = parse_log_level(v.get_string("log.level")).value_or(spdlog::level::info);
  c.ops_bind = v.get_string("ops.bind");
  const auto ops_port = config::instance_ops_port(v);
  if (!ops_port)
    return ops_port.error();
  c.ops_port = *ops_port;
  c.stats_interval = v.get_duration("ops.stats_interval");
  c.batch_size = static_cast<std::size_t>(v.get_int("consumer.batch_size"));
  c.lease = v.get_duration("consumer.lease");
  c.poll_min = v.get_duration("consumer.poll_min");
  c.poll_max = v.get_duration("consumer.poll_max");
  c.threads = static_cast<std::size_t>(v.get_int("consumer.threads"));
  c.synchronous_commit = v.get_bool("consumer.synchronous_commit");
  c.retry.max_attempts = static_cast<int>(v.get_int("retry.max_attempts"));
  c.retry.base = v.get_duration("retry.base");
  c.retry.cap = v.get_duration("retry.cap");
  c.drain_deadline = v.get_duration("drain.deadline");
  c.migrate_on_start = v.get_bool("migrate.on_start");
  c.recovery_enabled = v.get_bool("recovery.enabled");
  c.recovery_interval = v.get_duration("recovery.interval");
  c.recovery.older_than = v.get_duration("recovery.older_than");
  c.recovery.limit = static_cast<std::size_t>(v.get_int("recovery.limit"));

  std::string problems;
  // Each consumer holds one connection at a time; the stats poller and the sweep take one each.
  if (c.pool_size < c.threads + 2)
    problems += "database.pool_size (BKR_DATABASE_POOL_SIZE) is " + std::to_string(c.pool_size) +
                " but must be at least consumer.threads + 2 = " + std::to_string(c.threads + 2) + "; ";
  if (c.poll_max < c.poll_min)
    problems += "consumer.poll_max (BKR_CONSUMER_POLL_MAX) must not be below consumer.poll_min; ";
  if (c.retry.cap < c.retry.base)
    problems += "retry.cap (BKR_RETRY_CAP) must not be below retry.base (BKR_RETRY_BASE); ";
  if (!problems.empty()) {
    problems.resize(problems.size() - 2);
    return bkr::error{config::make_error_code(config::errc::invalid_value), problems};
  }
  return c;
}

loaded_config load_worker_config(const worker_settings& settings, int argc, const char* const* argv,
                                 std::ostream& out, std::ostream& err) {
  const auto name = executable_name(settings);
  auto args = config::parse_service_args(argc, argv);
  if (!args) {
    err << name << ": " << args.error().message << "\n";
    return {std::nullopt, 2};
  }
  const auto keys = worker_config_keys(settings);
  if (args->help) {
    out << "usage: " << name << " [--config FILE] [--print-config] [--help]\n\n"
        << "Consumes " << settings.queue << ". Configuration (environment over the optional JSON file):\n"
        << config::describe(keys);
    return {std::nullopt, 0};
  }
  auto sources = config::process_sources();
  if (args->config_file)
    sources.file_path = args->config_file;
  auto values = config::load(keys, sources);
  if (!values) {
    err << name << ": invalid configuration: " << values.error().message << "\n";
    return {std::nullopt, 2};
  }
  if (auto typed = to_worker_config(*values); !typed) {
    err << name << ": invalid configuration: " << typed.error().message << "\n";
    return {std::nullopt, 2};
  }
  if (args->print_config) {
    out << values->to_json(true).dump(2) << "\n";
    return {std::nullopt, 0};
  }
  return {std::move(*values), 0};
}

loaded_config load_worker_config(const worker_settings& settings, int argc, const char* const* argv) {
  return load_worker_config(settings, argc, argv, std::cout, std::cerr);
}

}  // namespace bkr::app
