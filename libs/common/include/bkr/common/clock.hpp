// Time source and the UTC millisecond timestamps used on every record and message.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace bkr {

/// A UTC instant with millisecond precision (DOMAIN.md: timestamps are UTC, ms precision).
using timestamp = std::chrono::sys_time<std::chrono::milliseconds>;

/// Source of the current time. Implementations are thread-safe.
class clock {
 public:
  virtual ~clock() = default;
  virtual timestamp now() const = 0;
};

/// The wall clock. Stateless; one instance may be shared by everything.
class system_clock final : public clock {
 public:
  timestamp now() const override;
};

/// A clock that only moves when told to; for tests. Thread-safe.
class manual_clock final : public clock {
 public:
  explicit manual_clock(timestamp start) : now_(start.time_since_epoch().count()) {}
  timestamp now() const override { return timestamp{std::chrono::milliseconds{now_.load()}}; }
  void set(timestamp t) { now_.store(t.time_since_epoch().count()); }
  void advance(std::chrono::milliseconds d) { now_.fetch_add(d.count()); }

 private:
  std::atomic<long long> now_;
};

/// RFC 3339 in UTC with milliseconds: `2026-11-22T10:15:30.123Z`.
std::string format_timestamp(timestamp t);

/// Parses RFC 3339 (`YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM)`, `T` or space). Fractions beyond
/// milliseconds are truncated. Returns nullopt for anything else, including impossible dates and times.
std::optional<timestamp> parse_timestamp(std::string_view text);

}  // namespace bkr
