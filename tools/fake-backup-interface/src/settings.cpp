// The fake interface's configuration keys, their conversion, and --help / --print-config handling.
#include "bkr/fake_backup_interface/settings.hpp"

#include "bkr/common/log.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <ostream>

namespace bkr::fake_backup_interface {
namespace {

constexpr long long hour_ms = 3'600'000;

bkr::error invalid(const std::string& message) {
  return {config::make_error_code(config::errc::invalid_value), message};
}

std::string key_ref(std::string_view name) {
  return std::string(name) + " (" + config::env_name(name) + ")";
}

// http://host[:port][/path]: the client speaks plain HTTP only, and the endpoint path is appended.
bool is_http_base_url(std::string_view text) {
  constexpr std::string_view scheme = "http://";
  if (!text.starts_with(scheme))
    return false;
  const auto rest = text.substr(scheme.size());
  if (rest.empty() || rest.front() == '/' || rest.front() == ':')
    return false;
  return std::none_of(rest.begin(), rest.end(), [](char c) {
    return c == '?' || c == '#' || c == ' ' || static_cast<unsigned char>(c) < 0x21 || c == 0x7f;
  });
}

}  // namespace

std::string_view to_string(reply_transport t) {
  return t == reply_transport::queue ? "queue" : "http";
}

std::string settings::replies_endpoint() const {
  std::string base = reply_url;
  while (!base.empty() && base.back() == '/')
    base.pop_back();
  return base + "/api/store-status-replies";
}

std::size_t settings::consumer_count() const {
  return providers.size() + (transport == reply_transport::http ? 1 : 0);
}

const std::vector<config::key>& config_keys() {
  using config::value_type;
  static const std::vector<config::key> keys{
      {.name = "database.url",
       .required = true,
       .secret = true,
       .help =
           "Postgres connection string (libpq keyword/value or URI) of the database holding the mq queues"},
      {.name = "database.pool_size",
       .type = value_type::integer,
       .default_value = "8",
       .help = "database connections at most (one per consumer plus two for the intake and the probe)",
       .min = 2,
       .max = 256},
      {.name = "fake.providers",
       .default_value = "Local,CloudA,CloudB",
       .help =
           "providers whose queue backup-interface.<provider>.store-request is consumed (comma separated)",
       .min = 1},
      {.name = "fake.reply_delay",
       .type = value_type::duration,
       .default_value = "1s",
       .help = "time from handling a store request to its reply becoming visible",
       .min = 0,
       .max = 24 * hour_ms},
      {.name = "fake.failure_ratio",
       .default_value = "0",
       .help = "share of store requests answered Failed, a decimal in [0, 1]",
       .min = 1},
      {.name = "fake.failure_mode",
       .default_value = "hash",
       .help = "hash: fail when a hash of backupRequestId falls under the ratio (predictable); random: draw",
       .one_of = {"hash", "random"}},
      {.name = "fake.fail_marker",
       .default_value = "fail",
       .help = "a backupJobId containing this text always fails; empty disables the rule",
       .min = 0,
       .max = 50},
      {.name = "fake.work_time",
       .type = value_type::duration,
       .default_value = "0ms",
       .help =
           "time spent on each store request while holding its lease (slows the fake down for fault tests)",
       .min = 0,
       .max = 60'000},
      {.name = "fake.reply_transport",
       .default_value = "queue",
       .help = "queue: reply on backup-interface.store-status; http: POST to fake.reply_url",
       .one_of = {"queue", "http"}},
      {.name = "fake.reply_url",
       .default_value = "",
       .help = "http transport: base URL of ReceiveRequest; replies go to <url>/api/store-status-replies",
       .min = 0,
       .max = 2000},
      {.name = "fake.reply_token",
       .default_value = "",
       .secret = true,
       .help = "http transport: bearer token with scope post-store-status (bkrctl token)",
       .min = 0,
       .max = 16384},
      {.name = "fake.reply_timeout",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "http transport: time allowed for one POST of a reply",
       .min = 10,
       .max = 600'000},
      {.name = "fake.reply_max_attempts",
       .type = value_type::integer,
       .default_value = "50",
       .help = "http transport: POSTs of one reply before it is dead-lettered",
       .min = 1,
       .max = 100000},
      {.name = "fake.reply_retry_base",
       .type = value_type::duration,
       .default_value = "500ms",
       .help = "http transport: backoff ceiling after the first failed POST (doubles, full jitter)",
       .min = 1,
       .max = hour_ms},
      {.name = "fake.reply_retry_cap",
       .type = value_type::duration,
       .default_value = "30s",
       .help = "http transport: largest backoff between POSTs",
       .min = 1,
       .max = hour_ms},
      {.name = "http.enabled",
       .type = value_type::boolean,
       .default_value = "true",
       .help = "serve the HTTP intake POST /store-requests"},
      {.name = "http.bind", .default_value = "127.0.0.1", .help = "address of the HTTP intake", .min = 1},
      {.name = "http.port",
       .type = value_type::integer,
       .default_value = "8091",
       .help = "port of the HTTP intake (0: any)",
       .min = 0,
       .max = 65535},
      {.name = "ops.bind",
       .default_value = "127.0.0.1",
       .help = "address of the ops listener (/livez /readyz /healthz /metrics)",
       .min = 1},
      {.name = "ops.port",
       .type = value_type::integer,
       .default_value = "9085",
       .help = "port of the ops listener (0: any)",
       .min = 0,
       .max = 65535},
      config::instance_index_key(),
      {.name = "consumer.batch_size",
       .type = value_type::integer,
       .default_value = "64",
       .help = "store requests claimed and settled per transaction",
       .min = 1,
       .max = 10000},
      {.name = "consumer.lease",
       .type = value_type::duration,
       .default_value = "5s",
       .help =
           "how long a transaction (a batch's or any other) or the partition-ownership session may stay "
           "silent before the server ends it: a stopped or hung fake holds no queue back and its partitions "
           "are free after it (a killed one's at once)",
       .min = 100,
       .max = hour_ms},
      {.name = "consumer.poll_max",
       .type = value_type::duration,
       .default_value = "1s",
       .help = "longest idle wait between claims (polling backstop behind LISTEN/NOTIFY)",
       .min = 1,
       .max = hour_ms},
      {.name = "log.level",
       .default_value = "info",
       .help = "log level",
       .one_of = {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      {.name = "drain.deadline",
       .type = value_type::duration,
       .default_value = "5s",
       .help = "on SIGINT/SIGTERM, how long work in flight may finish",
       .min = 0,
       .max = hour_ms},
  };
  return keys;
}

std::optional<double> parse_ratio(std::string_view text) {
  double v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::fixed);
  if (ec != std::errc{} || ptr != end || !std::isfinite(v) || v < 0.0 || v > 1.0)
    return std::nullopt;
  return v;
}

std::optional<std::vector<domain::provider>> parse_providers(std::string_view text) {
  std::vector<domain::provider> out;
  while (true) {
    const auto comma = text.find(',');
    auto item = text.substr(0, comma);
    while (!item.empty() && item.front() == ' ')
      item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ')
      item.remove_suffix(1);
    const auto p = domain::parse_provider(item);
    if (!p || std::find(out.begin(), out.end(), *p) != out.end())
      return std::nullopt;
    out.push_back(*p);
    if (comma == std::string_view::npos)
      break;
    text.remove_prefix(comma + 1);
  }
  return out;
}

result<settings> settings_from(const config::values& v) {
  settings s;
  std::string problems;
  auto problem = [&problems](std::string text) { problems += text + "; "; };

  s.database_url = v.get_string("database.url");
  s.pool_size = static_cast<std::size_t>(v.get_int("database.pool_size"));
  if (auto p = parse_providers(v.get_string("fake.providers")))
    s.providers = std::move(*p);
  else
    problem(key_ref("fake.providers") + " must list Local, CloudA or CloudB, comma separated, each once");
  s.rules.reply_delay = v.get_duration("fake.reply_delay");
  if (auto r = parse_ratio(v.get_string("fake.failure_ratio")))
    s.rules.failure_ratio = *r;
  else
    problem(key_ref("fake.failure_ratio") + " must be a decimal between 0 and 1, e.g. 0.25");
  s.rules.mode = v.get_string("fake.failure_mode") == "random" ? failure_mode::random : failure_mode::hash;
  s.rules.fail_marker = v.get_string("fake.fail_marker");
  s.work_time = v.get_duration("fake.work_time");
  s.transport =
      v.get_string("fake.reply_transport") == "http" ? reply_transport::http : reply_transport::queue;
  s.reply_url = v.get_string("fake.reply_url");
  s.reply_token = v.get_string("fake.reply_token");
  s.reply_timeout = v.get_duration("fake.reply_timeout");
  s.reply_retry.max_attempts = static_cast<int>(v.get_int("fake.reply_max_attempts"));
  s.reply_retry.base = v.get_duration("fake.reply_retry_base");
  s.reply_retry.cap = v.get_duration("fake.reply_retry_cap");
  s.http_enabled = v.get_bool("http.enabled");
  s.http_bind = v.get_string("http.bind");
  s.http_port = static_cast<std::uint16_t>(v.get_int("http.port"));
  s.ops_bind = v.get_string("ops.bind");
  const auto ops_port = config::instance_ops_port(v);
  if (!ops_port)
    return ops_port.error();
  s.ops_port = *ops_port;
  s.batch_size = static_cast<std::size_t>(v.get_int("consumer.batch_size"));
  s.lease = v.get_duration("consumer.lease");
  s.poll_max = v.get_duration("consumer.poll_max");
  s.log_level = parse_log_level(v.get_string("log.level")).value_or(spdlog::level::info);
  s.drain_deadline = v.get_duration("drain.deadline");

  if (s.transport == reply_transport::http) {
    if (!is_http_base_url(s.reply_url))
      problem(key_ref("fake.reply_url") +
              " must be an http:// base URL (e.g. http://127.0.0.1:8080) when fake.reply_transport is http");
    if (s.reply_token.empty())
      problem(key_ref("fake.reply_token") + " is required when fake.reply_transport is http");
  }
  if (s.reply_retry.cap < s.reply_retry.base)
    problem(key_ref("fake.reply_retry_cap") + " must not be below fake.reply_retry_base");
  // Each consumer holds one connection while it settles; the intake and the readiness probe take one each.
  if (s.pool_size < s.consumer_count() + 2)
    problem(key_ref("database.pool_size") + " is " + std::to_string(s.pool_size) + " but must be at least " +
            std::to_string(s.consumer_count() + 2) + " (one per consumer, plus two)");
  if (!problems.empty()) {
    problems.resize(problems.size() - 2);
    return invalid(problems);
  }
  return s;
}

loaded_settings load_settings(int argc, const char* const* argv, const config::sources& environment,
                              std::ostream& out, std::ostream& err) {
  const std::string name(service_name);
  loaded_settings r;
  auto args = config::parse_service_args(argc, argv);
  if (!args) {
    err << name << ": " << args.error().message << "\n";
    r.exit_code = 2;
    return r;
  }
  if (args->help) {
    out << "usage: " << name << " [--config FILE] [--print-config] [--help]\n\n"
        << "Answers store requests like a backup interface. Configuration (environment over the optional "
           "JSON file):\n"
        << config::describe(config_keys());
    return r;
  }
  auto sources = environment;
  if (args->config_file)
    sources.file_path = args->config_file;
  auto values = config::load(config_keys(), sources);
  if (!values) {
    err << name << ": invalid configuration: " << values.error().message << "\n";
    r.exit_code = 2;
    return r;
  }
  auto typed = settings_from(*values);
  if (!typed) {
    err << name << ": invalid configuration: " << typed.error().message << "\n";
    r.exit_code = 2;
    return r;
  }
  if (args->print_config) {
    out << values->to_json(true).dump(2) << "\n";
    return r;
  }
  r.value = std::move(*typed);
  r.raw = std::move(*values);
  return r;
}

}  // namespace bkr::fake_backup_interface
