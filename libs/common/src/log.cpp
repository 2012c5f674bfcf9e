// JSON log lines through spdlog: the message is a fully formed JSON object, spdlog only writes it.
#include "bkr/common/log.hpp"

#include "bkr/common/clock.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

namespace bkr {
namespace {

std::shared_ptr<spdlog::logger> make_impl(const std::string& service, spdlog::level::level_enum level,
                                          std::shared_ptr<spdlog::sinks::sink> sink) {
  auto impl = std::make_shared<spdlog::logger>(service, std::move(sink));
  impl->set_pattern("%v");
  impl->set_level(level);
  impl->flush_on(spdlog::level::warn);
  return impl;
}

std::string_view level_name(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
      return "trace";
    case spdlog::level::debug:
      return "debug";
    case spdlog::level::info:
      return "info";
    case spdlog::level::warn:
      return "warn";
    case spdlog::level::err:
      return "error";
    case spdlog::level::critical:
      return "critical";
    default:
      return "off";
  }
}

}  // namespace

logger::logger(std::string service, spdlog::level::level_enum level)
    : logger(std::move(service), level, std::make_shared<spdlog::sinks::stdout_sink_mt>()) {}

logger::logger(std::string service, spdlog::level::level_enum level,
               std::shared_ptr<spdlog::sinks::sink> sink)
    : service_(std::move(service)),
      impl_(make_impl(service_, level, std::move(sink))),
      bound_(nlohmann::json::object()) {}

logger::logger(std::string service, std::shared_ptr<spdlog::logger> impl, nlohmann::json bound)
    : service_(std::move(service)), impl_(std::move(impl)), bound_(std::move(bound)) {}

logger logger::with(const nlohmann::json& fields) const {
  nlohmann::json merged = bound_;
  if (fields.is_object())
    merged.update(fields);
  return logger(service_, impl_, std::move(merged));
}

bool logger::enabled(spdlog::level::level_enum level) const {
  return impl_->should_log(level);
}

void logger::log(spdlog::level::level_enum level, std::string_view msg, const nlohmann::json& fields) const {
  if (!impl_->should_log(level))
    return;
  nlohmann::json line = nlohmann::json::object();
  line["ts"] = format_timestamp(system_clock{}.now());
  line["level"] = level_name(level);
  line["service"] = service_;
  line["msg"] = msg;
  for (const auto& [k, v] : bound_.items())
    line[k] = v;
  if (fields.is_object()) {
    for (const auto& [k, v] : fields.items())
      line[k] = v;
  }
  // Replace invalid UTF-8 instead of throwing: a log line must never take the process down.
  impl_->log(level, line.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

std::optional<spdlog::level::level_enum> parse_log_level(std::string_view text) {
  if (text == "trace")
    return spdlog::level::trace;
  if (text == "debug")
    return spdlog::level::debug;
  if (text == "info")
    return spdlog::level::info;
  if (text == "warn")
    return spdlog::level::warn;
  if (text == "error")
    return spdlog::level::err;
  if (text == "critical")
    return spdlog::level::critical;
  if (text == "off")
    return spdlog::level::off;
  return std::nullopt;
}

}  // namespace bkr
