// Structured JSON log lines on stdout (or any spdlog sink), one object per line.
#pragma once

#include <spdlog/common.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace spdlog {
class logger;
namespace sinks {
class sink;
}
}  // namespace spdlog

namespace bkr {

/// Writes one JSON object per line: {"ts","level","service","msg", ...bound fields, ...call fields}.
/// Never pass secrets or tokens as fields. Copies share the underlying spdlog logger; thread-safe.
class logger {
 public:
  /// Logs to stdout.
  logger(std::string service, spdlog::level::level_enum level);
  /// Logs to the given sink (tests use an ostream sink).
  logger(std::string service, spdlog::level::level_enum level, std::shared_ptr<spdlog::sinks::sink> sink);

  /// A logger that adds `fields` (a JSON object) to every line, e.g. queue or backupRequestId.
  logger with(const nlohmann::json& fields) const;

  void log(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields = {}) const;
  void debug(std::string_view msg, const nlohmann::json& fields = {}) const {
    log(spdlog::level::debug, msg, fields);
  }
  void info(std::string_view msg, const nlohmann::json& fields = {}) const {
    log(spdlog::level::info, msg, fields);
  }
  void warn(std::string_view msg, const nlohmann::json& fields = {}) const {
    log(spdlog::level::warn, msg, fields);
  }
  void error(std::string_view msg, const nlohmann::json& fields = {}) const {
    log(spdlog::level::err, msg, fields);
  }

  bool enabled(spdlog::level::level_enum level) const;
  const std::string& service() const { return service_; }

 private:
  logger(std::string service, std::shared_ptr<spdlog::logger> impl, nlohmann::json bound);

  std::string service_;
  std::shared_ptr<spdlog::logger> impl_;
  nlohmann::json bound_;
};

/// Parses `trace`, `debug`, `info`, `warn`, `error`, `critical`, `off`; nullopt otherwise.
std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text);

}  // namespace bkr
