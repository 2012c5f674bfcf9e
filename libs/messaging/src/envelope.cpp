// Envelope codec and helpers.
#include "bkr/messaging/envelope.hpp"

#include "bkr/common/ids.hpp"

#include <utility>

namespace bkr::messaging {
namespace {

class messaging_category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "bkr.messaging"; }
  std::string message(int ev) const override {
    switch (static_cast<errc>(ev)) {
      case errc::invalid_envelope:
        return "invalid envelope";
      case errc::not_found:
        return "not found";
      case errc::invalid_argument:
        return "invalid argument";
    }
    return "unknown messaging error";
  }
};

constexpr timestamp first_writable_time{
    std::chrono::sys_days{std::chrono::year{1} / std::chrono::January / 1}.time_since_epoch()};
constexpr timestamp last_writable_time{
    std::chrono::sys_days{std::chrono::year{10000} / std::chrono::January / 1}.time_since_epoch() -
    std::chrono::milliseconds{1}};

bkr::error invalid(std::string field, std::string what) {
  return {errc::invalid_envelope, "envelope field '" + field + "' " + what};
}

}  // namespace

const std::error_category& category() noexcept {
  static const messaging_category c;
  return c;
}

envelope make_envelope(std::string type, std::string key, nlohmann::json payload, std::string producer,
                       std::string trace_id, const bkr::clock& clock) {
  envelope e;
  e.occurred_at = clock.now();
  e.message_id = new_uuid_v7(e.occurred_at);
  e.type = std::move(type);
  e.key = std::move(key);
  e.payload = std::move(payload);
  e.producer = std::move(producer);
  e.trace_id = std::move(trace_id);
  return e;
}

nlohmann::json to_json(const envelope& e) {
  return nlohmann::json{{"messageId", e.message_id},
                        {"type", e.type},
                        {"schemaVersion", e.schema_version},
                        {"key", e.key},
                        {"occurredAt", format_timestamp(e.occurred_at)},
                        {"traceId", e.trace_id},
                        {"producer", e.producer},
                        {"attempt", e.attempt},
                        {"payload", e.payload}};
}

result<envelope> envelope_from_json(const nlohmann::json& j) {
  if (!j.is_object())
    return invalid("(root)", "must be an object");
  auto text = [&](const char* name, std::string& out, bool non_empty) -> std::optional<bkr::error> {
    auto it = j.find(name);
    if (it == j.end() || !it->is_string())
      return invalid(name, "must be a string");
    out = it->get<std::string>();
    if (non_empty && out.empty())
      return invalid(name, "must not be empty");
    return std::nullopt;
  };
  envelope e;
  if (auto err = text("messageId", e.message_id, true))
    return *err;
  if (!is_uuid(e.message_id))
    return invalid("messageId", "must be a UUID");
  if (auto err = text("type", e.type, true))
    return *err;
  if (auto err = text("key", e.key, true))
    return *err;
  if (auto err = text("traceId", e.trace_id, false))
    return *err;
  if (auto err = text("producer", e.producer, false))
    return *err;
  std::string occurred;
  if (auto err = text("occurredAt", occurred, true))
    return *err;
  auto at = parse_timestamp(occurred);
  if (!at)
    return invalid("occurredAt", "must be an RFC 3339 timestamp");
  // An offset can move it out of the years 0001..9999 in UTC, which to_json could not write back.
  if (*at < first_writable_time || *at > last_writable_time)
    return invalid("occurredAt", "must fall within the years 0001 to 9999 in UTC");
  e.occurred_at = *at;
  auto sv = j.find("schemaVersion");
  if (sv == j.end() || !sv->is_number_integer() || sv->get<long long>() < 1 || sv->get<long long>() > 1000000)
    return invalid("schemaVersion", "must be a positive integer");
  e.schema_version = sv->get<int>();
  auto at_it = j.find("attempt");
  if (at_it != j.end()) {
    if (!at_it->is_number_integer() || at_it->get<long long>() < 0 || at_it->get<long long>() > 1000000)
      return invalid("attempt", "must be a non-negative integer");
    e.attempt = at_it->get<int>();
  }
  auto p = j.find("payload");
  if (p == j.end() || !p->is_object())
    return invalid("payload", "must be an object");
  e.payload = *p;
  return e;
}

bool is_valid_queue_name(std::string_view queue) {
  if (queue.empty() || queue.size() > 200)
    return false;
  for (char c : queue) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

}  // namespace bkr::messaging
