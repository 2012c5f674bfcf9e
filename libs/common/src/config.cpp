// Loading and validation of configuration from BKR_* environment variables over an optional JSON file.
#include "bkr/common/config.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace bkr::config {
namespace {

class category_impl final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.config"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::missing:
        return "missing configuration value";
      case errc::invalid_value:
        return "invalid configuration value";
      case errc::unknown_key:
        return "unknown configuration key";
      case errc::unreadable_file:
        return "unreadable configuration file";
      case errc::bad_arguments:
        return "bad command-line arguments";
    }
    return "configuration error";
  }
};

std::string_view type_name(value_type t) {
  switch (t) {
    case value_type::string:
      return "string";
    case value_type::integer:
      return "integer";
    case value_type::boolean:
      return "boolean";
    case value_type::duration:
      return "duration";
  }
  return "value";
}

std::optional<long long> parse_int(std::string_view text) {
  long long v = 0;
  const auto* end = text.data() + text.size();
  auto [p, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc{} || p != end || text.empty())
    return std::nullopt;
  return v;
}

std::optional<bool> parse_bool(std::string_view text) {
  if (text == "true" || text == "1" || text == "yes" || text == "on")
    return true;
  if (text == "false" || text == "0" || text == "no" || text == "off")
    return false;
  return std::nullopt;
}

std::optional<long long> parse_duration_ms(std::string_view text) {
  std::size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits])))
    ++digits;
  if (digits == 0)
    return std::nullopt;
  const auto number = parse_int(text.substr(0, digits));
  if (!number || digits > 12)
    return std::nullopt;
  const std::string_view unit = text.substr(digits);
  long long factor = 0;
  if (unit.empty() || unit == "ms")
    factor = 1;
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60'000;
  else if (unit == "h")
    factor = 3'600'000;
  else
    return std::nullopt;
  return *number * factor;
}

// Validates one value against its key; returns a problem description (without the key name) or nullopt.
std::optional<std::string> check(const key& k, const std::string& text) {
  auto bounds = [&](long long v, std::string_view what) -> std::optional<std::string> {
    if ((k.min && v < *k.min) || (k.max && v > *k.max)) {
      std::ostringstream m;
      m << "must be " << what;
      if (k.min && k.max)
        m << " between " << *k.min << " and " << *k.max;
      else if (k.min)
        m << " of at least " << *k.min;
      else
        m << " of at most " << *k.max;
      return m.str();
    }
    return std::nullopt;
  };
  switch (k.type) {
    case value_type::string: {
      if (!k.one_of.empty() && std::find(k.one_of.begin(), k.one_of.end(), text) == k.one_of.end()) {
        std::string allowed;
        for (const auto& o : k.one_of)
          allowed += (allowed.empty() ? "" : ", ") + o;
        return "must be one of: " + allowed;
      }
      if (auto p = bounds(static_cast<long long>(text.size()), "a text with a length"))
        return p;
      return std::nullopt;
    }
    case value_type::integer: {
      const auto v = parse_int(text);
      if (!v)
        return std::string("must be an integer");
      return bounds(*v, "an integer");
    }
    case value_type::boolean:
      if (!parse_bool(text))
        return std::string("must be true or false");
      return std::nullopt;
    case value_type::duration: {
      const auto v = parse_duration_ms(text);
      if (!v)
        return std::string("must be a duration such as 250ms, 5s, 2m, 1h or a number of milliseconds");
      return bounds(*v, "a duration in milliseconds");
    }
  }
  return std::nullopt;
}

void flatten(const nlohmann::json& j, const std::string& prefix, std::map<std::string, std::string>& out,
             std::vector<std::string>& problems) {
  for (const auto& [k, v] : j.items()) {
    const std::string name = prefix.empty() ? k : prefix + "." + k;
    if (v.is_object()) {
      flatten(v, name, out, problems);
    } else if (v.is_string()) {
      out[name] = v.get<std::string>();
    } else if (v.is_boolean()) {
      out[name] = v.get<bool>() ? "true" : "false";
    } else if (v.is_number_integer()) {
      out[name] = v.dump();
    } else {
      problems.push_back(name + " in the configuration file must be a string, integer or boolean");
    }
  }
}

}  // namespace

const std::error_category& category() noexcept {
  static const category_impl instance;
  return instance;
}

std::string env_name(std::string_view key_name) {
  std::string out = "BKR_";
  for (char c : key_name) {
    out.push_back(c == '.' || c == '-' ? '_'
                                       : static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  }
  return out;
}

sources process_sources() {
  sources s;
  for (char** e = environ; e && *e; ++e) {
    std::string_view entry{*e};
    const auto eq = entry.find('=');
    if (eq == std::string_view::npos || !entry.starts_with("BKR_"))
      continue;
    s.environment.emplace(std::string(entry.substr(0, eq)), std::string(entry.substr(eq + 1)));
  }
  if (const char* pm2_instance = std::getenv("NODE_APP_INSTANCE");
      pm2_instance != nullptr && s.environment.count("BKR_INSTANCE_INDEX") == 0)
    s.environment.emplace("BKR_INSTANCE_INDEX", pm2_instance);
  if (auto it = s.environment.find("BKR_CONFIG_FILE"); it != s.environment.end() && !it->second.empty()) {
    s.file_path = it->second;
  }
  return s;
}

key instance_index_key() {
  return {.name = "instance.index",
          .type = value_type::integer,
          .default_value = "0",
          .help =
              "which instance of this executable this process is (0-based; pm2's NODE_APP_INSTANCE when "
              "unset): the ops listener listens on ops.port + 100 x instance.index",
          .min = 0,
          .max = 1000};
}

result<std::uint16_t> instance_port(long long base, long long index, std::string_view port_key) {
  if (base == 0)
    return std::uint16_t{0};
  const long long port = base + instance_port_stride * index;
  if (port > 65535)
    return bkr::error{make_error_code(errc::invalid_value),
                      std::string(port_key) + " (" + env_name(port_key) + ") " + std::to_string(base) +
                          " + " + std::to_string(instance_port_stride) +
                          " x instance.index (BKR_INSTANCE_INDEX) " + std::to_string(index) +
                          " is over 65535"};
  return static_cast<std::uint16_t>(port);
}

result<std::uint16_t> instance_ops_port(const values& v) {
  return instance_port(v.get_int("ops.port"), v.get_int("instance.index"), "ops.port");
}

result<values> load(std::span<const key> spec, const sources& src) {
  std::vector<std::string> problems;
  errc first = errc::invalid_value;
  auto problem = [&](errc code, std::string text) {
    if (problems.empty())
      first = code;
    problems.push_back(std::move(text));
  };

  std::map<std::string, std::string> from_file;
  if (src.file_path) {
    std::ifstream in(*src.file_path);
    if (!in) {
      return error{errc::unreadable_file, "config: cannot read configuration file " + *src.file_path};
    }
    nlohmann::json doc = nlohmann::json::parse(in, nullptr, false);
    if (doc.is_discarded() || !doc.is_object()) {
      return error{errc::unreadable_file,
                   "config: configuration file " + *src.file_path + " is not a JSON object"};
    }
    std::vector<std::string> file_problems;
    flatten(doc, "", from_file, file_problems);
    for (auto& p : file_problems)
      problem(errc::invalid_value, "config: " + p);
    // Not a structured binding: clang before 16 cannot capture one in the lambda below.
    for (const auto& entry : from_file) {
      const std::string& name = entry.first;
      const bool known = std::any_of(spec.begin(), spec.end(), [&](const key& k) { return k.name == name; });
      if (!known)
        problem(errc::unknown_key, "config: unknown key '" + name + "' in " + *src.file_path);
    }
  }

  values out;
  out.spec_.assign(spec.begin(), spec.end());
  for (const key& k : spec) {
    const std::string var = env_name(k.name);
    // Plain string + flag rather than std::optional<std::string>: GCC 12 at -O2 reports a false
    // maybe-uninitialized on the optional's copy.
    bool has_value = k.default_value.has_value();
    std::string text = k.default_value.value_or(std::string());
    std::string origin = "default";
    if (auto it = from_file.find(k.name); it != from_file.end()) {
      has_value = true;
      text = it->second;
      origin = "configuration file";
    }
    if (auto it = src.environment.find(var); it != src.environment.end()) {
      has_value = true;
      text = it->second;
      origin = "environment";
    }
    if (has_value && text.empty() && (k.type != value_type::string || k.required))
      has_value = false;
    if (!has_value) {
      if (k.required)
        problem(errc::missing, "config: " + k.name + " (" + var + ") is required but not set");
      out.text_[k.name] = std::nullopt;
      continue;
    }
    if (auto p = check(k, text)) {
      std::string shown = k.secret ? std::string("(secret, not shown)") : "\"" + text + "\"";
      problem(errc::invalid_value,
              "config: " + k.name + " (" + var + ") " + *p + "; got " + shown + " from the " + origin);
    }
    out.text_[k.name] = std::move(text);
  }
  if (!problems.empty()) {
    std::string msg;
    for (const auto& p : problems)
      msg += (msg.empty() ? "" : "\n") + p;
    return error{first, std::move(msg)};
  }
  return out;
}

const key& values::spec_of(std::string_view name, value_type expected) const {
  for (const key& k : spec_) {
    if (k.name == name) {
      if (k.type != expected) {
        throw std::logic_error("config key " + std::string(name) + " is a " + std::string(type_name(k.type)) +
                               ", not a " + std::string(type_name(expected)));
      }
      return k;
    }
  }
  throw std::logic_error("config key " + std::string(name) + " is not declared");
}

const std::string& values::text_of(std::string_view name, value_type expected) const {
  spec_of(name, expected);
  const auto& text = text_.find(name)->second;
  if (!text)
    throw std::logic_error("config key " + std::string(name) + " has no value; check has() first");
  return *text;
}

bool values::has(std::string_view name) const {
  auto it = text_.find(name);
  return it != text_.end() && it->second.has_value();
}

const std::string& values::get_string(std::string_view name) const {
  return text_of(name, value_type::string);
}
long long values::get_int(std::string_view name) const {
  return *parse_int(text_of(name, value_type::integer));
}
bool values::get_bool(std::string_view name) const {
  return *parse_bool(text_of(name, value_type::boolean));
}
std::chrono::milliseconds values::get_duration(std::string_view name) const {
  return std::chrono::milliseconds{*parse_duration_ms(text_of(name, value_type::duration))};
}

nlohmann::json values::to_json(bool mask_secrets) const {
  nlohmann::json out = nlohmann::json::object();
  for (const key& k : spec_) {
    const auto& text = text_.at(k.name);
    if (!text) {
      out[k.name] = nullptr;
    } else if (k.secret && mask_secrets) {
      out[k.name] = "***";
    } else {
      switch (k.type) {
        case value_type::integer:
          out[k.name] = *parse_int(*text);
          break;
        case value_type::boolean:
          out[k.name] = *parse_bool(*text);
          break;
        case value_type::duration:
          out[k.name] = std::to_string(*parse_duration_ms(*text)) + "ms";
          break;
        case value_type::string:
          out[k.name] = *text;
          break;
      }
    }
  }
  return out;
}

result<service_args> parse_service_args(int argc, const char* const* argv) {
  service_args out;
  for (int i = 1; i < argc; ++i) {
    const std::string_view a{argv[i]};
    if (a == "--print-config") {
      out.print_config = true;
    } else if (a == "--help" || a == "-h") {
      out.help = true;
    } else if (a == "--config") {
      if (i + 1 >= argc)
        return error{errc::bad_arguments, "--config needs a file path"};
      out.config_file = argv[++i];
    } else if (a.starts_with("--config=")) {
      out.config_file = std::string(a.substr(9));
      if (out.config_file->empty())
        return error{errc::bad_arguments, "--config needs a file path"};
    } else {
      return error{errc::bad_arguments, "unknown argument '" + std::string(a) +
                                            "' (expected --config FILE, --print-config or --help)"};
    }
  }
  return out;
}

std::string describe(std::span<const key> spec) {
  std::ostringstream out;
  for (const key& k : spec) {
    out << "  " << env_name(k.name) << "  (" << k.name << ", " << type_name(k.type);
    if (k.required)
      out << ", required";
    if (k.default_value)
      out << ", default " << (k.secret ? "***" : *k.default_value);
    out << ")\n      " << k.help << "\n";
  }
  return out.str();
}

}  // namespace bkr::config
