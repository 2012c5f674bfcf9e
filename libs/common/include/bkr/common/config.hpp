// Configuration: `BKR_*` environment variables over an optional JSON file, validated against a spec.
#pragma once

#include "bkr/common/error.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::config {

enum class errc {
  missing = 1,      // a required key has no value
  invalid_value,    // a value does not parse or breaks its bounds
  unknown_key,      // the JSON file names a key the spec does not know
  unreadable_file,  // the JSON file cannot be read or is not a JSON object
  bad_arguments,    // command-line arguments are wrong
};
const std::error_category& category() noexcept;
inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), category()};
}

enum class value_type { string, integer, boolean, duration };

/// One configuration key. `name` is dotted (`database.url`): the environment variable is `BKR_` + the name
/// upper-cased with dots and dashes as underscores (`BKR_DATABASE_URL`); in the JSON file it is either nested
/// (`{"database": {"url": ...}}`) or the dotted name itself.
struct key {
  std::string name;
  value_type type = value_type::string;
  std::optional<std::string> default_value;  ///< textual form, validated like any other value
  bool required = false;                     ///< must have a value (default, file or env)
  bool secret = false;                       ///< masked by print/to_json, never logged
  std::string help;
  std::optional<long long> min;  ///< integers and durations (ms): value bounds; strings: length bounds
  std::optional<long long> max;
  std::vector<std::string> one_of;  ///< strings: the allowed values
};

/// Where values come from. `environment` holds the BKR_* variables; `file_path` the optional JSON file.
struct sources {
  std::map<std::string, std::string, std::less<>> environment;
  std::optional<std::string> file_path;
};

/// The environment of this process (BKR_* variables) and `BKR_CONFIG_FILE` as the file path. pm2 numbers
/// the instances of an app in `NODE_APP_INSTANCE`: it stands for `BKR_INSTANCE_INDEX` when that is unset.
sources process_sources();

/// `instance.index`: which of several instances of one executable this process is (0-based, default 0).
/// What must differ between instances on one machine (the ops listener's port) is derived from it.
key instance_index_key();

/// Instances of one executable listen `instance_port_stride` ports apart, so that the default ports of the
/// executables (9080..9086) stay clear of each other's instances.
inline constexpr long long instance_port_stride = 100;

/// The port of instance `index` for a configured `base` port: `base` + stride x `index`, or 0 (any free
/// port) when `base` is 0. An error naming `port_key` when that is over 65535.
result<std::uint16_t> instance_port(long long base, long long index, std::string_view port_key);

/// The environment variable that sets `key_name`, e.g. `database.url` -> `BKR_DATABASE_URL`.
std::string env_name(std::string_view key_name);

/// Validated configuration values. Immutable after load; safe to share between threads.
class values {
 public:
  bool has(std::string_view name) const;
  const std::string& get_string(std::string_view name) const;
  long long get_int(std::string_view name) const;
  bool get_bool(std::string_view name) const;
  std::chrono::milliseconds get_duration(std::string_view name) const;
  /// Effective configuration as a flat JSON object; secrets shown as "***" unless `mask_secrets` is false.
  nlohmann::json to_json(bool mask_secrets = true) const;

 private:
  friend result<values> load(std::span<const key> spec, const sources& src);
  const key& spec_of(std::string_view name, value_type expected) const;
  const std::string& text_of(std::string_view name, value_type expected) const;

  std::vector<key> spec_;
  std::map<std::string, std::optional<std::string>, std::less<>> text_;  // validated text, by key name
};

/// Loads and validates. Environment wins over the file, the file over defaults. Every problem is reported
/// with the key's name and its environment variable; all problems are collected into one message.
/// Durations accept `250ms`, `5s`, `2m`, `1h` or a bare number of milliseconds; booleans `true/false/1/0`.
result<values> load(std::span<const key> spec, const sources& src);

/// This instance's ops listener port, `instance_port` of the loaded `ops.port` and `instance.index` (both
/// keys must be in the spec `v` was loaded with).
result<std::uint16_t> instance_ops_port(const values& v);

/// Arguments every executable accepts: `--config FILE`, `--print-config`, `--help`.
struct service_args {
  std::optional<std::string> config_file;
  bool print_config = false;
  bool help = false;
};
result<service_args> parse_service_args(int argc, const char* const* argv);

/// Human help text listing every key with its variable, default and description.
std::string describe(std::span<const key> spec);

}  // namespace bkr::config

template <>
struct std::is_error_code_enum<bkr::config::errc> : std::true_type {};
