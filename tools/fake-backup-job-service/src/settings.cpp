// The fake job service's configuration keys, their conversion, and --help / --print-config handling.
#include "bkr/fake_backup_job_service/settings.hpp"

#include "bkr/common/log.hpp"
#include "bkr/fake_backup_job_service/catalog.hpp"

#include <charconv>
#include <cmath>
#include <ostream>

namespace bkr::fake_backup_job_service {
namespace {

constexpr long long hour_ms = 3'600'000;

std::string key_ref(std::string_view name) {
  return std::string(name) + " (" + config::env_name(name) + ")";
}

std::optional<double> parse_ratio(std::string_view text) {
  double v = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, v, std::chars_format::fixed);
  if (ec != std::errc{} || ptr != end || !std::isfinite(v) || v < 0.0 || v > 1.0)
    return std::nullopt;
  return v;
}

}  // namespace

const std::vector<config::key>& config_keys() {
  using config::value_type;
  static const std::vector<config::key> keys{
      {.name = "http.bind", .default_value = "127.0.0.1", .help = "address of the job API", .min = 1},
      {.name = "http.port",
       .type = value_type::integer,
       .default_value = "8090",
       .help = "port of the job API (0: any)",
       .min = 0,
       .max = 65535},
      {.name = "http.threads",
       .type = value_type::integer,
       .default_value = "1",
       .help = "I/O threads of the job API",
       .min = 1,
       .max = 64},
      {.name = "ops.bind",
       .default_value = "127.0.0.1",
       .help = "address of the ops listener (/livez /readyz /healthz /metrics)",
       .min = 1},
      {.name = "ops.port",
       .type = value_type::integer,
       .default_value = "9086",
       .help = "port of the ops listener (0: any)",
       .min = 0,
       .max = 65535},
      config::instance_index_key(),
      {.name = "fake.jobs_file",
       .default_value = "",
       .help = "JSON file of jobs (an array, or {\"jobs\": [...]}); empty: the demo jobs of bkrctl seed-demo",
       .min = 0,
       .max = 4096},
      {.name = "fake.latency",
       .type = value_type::duration,
       .default_value = "0ms",
       .help = "added before every answer of GET /backup-jobs/{id}",
       .min = 0,
       .max = 600'000},
      {.name = "fake.error_ratio",
       .default_value = "0",
       .help = "share of GET /backup-jobs/{id} answered 500, a decimal in [0, 1] (spread evenly)",
       .min = 1},
      {.name = "log.level",
       .default_value = "info",
       .help = "log level",
       .one_of = {"trace", "debug", "info", "warn", "error", "critical", "off"}},
      {.name = "drain.deadline",
       .type = value_type::duration,
       .default_value = "2s",
       .help = "on SIGINT/SIGTERM, how long requests in flight may finish",
       .min = 0,
       .max = hour_ms},
  };
  return keys;
}

result<settings> settings_from(const config::values& v) {
  settings s;
  std::string problems;
  s.http_bind = v.get_string("http.bind");
  s.http_port = static_cast<std::uint16_t>(v.get_int("http.port"));
  s.http_threads = static_cast<std::size_t>(v.get_int("http.threads"));
  s.ops_bind = v.get_string("ops.bind");
  const auto ops_port = config::instance_ops_port(v);
  if (!ops_port)
    return ops_port.error();
  s.ops_port = *ops_port;
  s.jobs_file = v.get_string("fake.jobs_file");
  s.faults.latency = v.get_duration("fake.latency");
  if (auto r = parse_ratio(v.get_string("fake.error_ratio")))
    s.faults.error_ratio = *r;
  else
    problems += key_ref("fake.error_ratio") + " must be a decimal between 0 and 1, e.g. 0.25; ";
  s.log_level = parse_log_level(v.get_string("log.level")).value_or(spdlog::level::info);
  s.drain_deadline = v.get_duration("drain.deadline");
  if (s.jobs_file.empty()) {
    s.jobs = demo_jobs();
  } else if (auto jobs = load_jobs_file(s.jobs_file)) {
    s.jobs = std::move(*jobs);
  } else {
    problems += key_ref("fake.jobs_file") + ": " + jobs.error().message + "; ";
  }
  if (!problems.empty()) {
    problems.resize(problems.size() - 2);
    return bkr::error{config::make_error_code(config::errc::invalid_value), problems};
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
        << "Answers GET /backup-jobs/{id} like the backup job service. Configuration (environment over the "
           "optional JSON file):\n"
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

}  // namespace bkr::fake_backup_job_service
