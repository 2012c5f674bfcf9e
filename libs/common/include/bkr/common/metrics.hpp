// Metrics registry: counters, gauges and fixed-bucket histograms with labels, exposed as Prometheus text.
#pragma once

#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::metrics {

/// A count that only goes up. Owned by its family; references stay valid for the registry's lifetime.
/// Updates are lock-free (one relaxed atomic add) and may come from any thread.
class counter {
 public:
  void inc(std::uint64_t n = 1) noexcept { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

/// A value that goes up and down (open connections, queue depth, breaker state). Owned by its family;
/// lock-free updates from any thread.
class gauge {
 public:
  void set(double v) noexcept { value_.store(v, std::memory_order_relaxed); }
  void add(double d) noexcept { value_.fetch_add(d, std::memory_order_relaxed); }
  void inc() noexcept { add(1.0); }
  void dec() noexcept { add(-1.0); }
  double value() const noexcept { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

/// Observations counted into fixed buckets chosen at registration (upper bounds, ascending; +Inf is
/// implicit). Owned by its family; `observe` is lock-free and may be called from any thread. A snapshot
/// taken while others observe may be off by the observations in flight, never torn within one bucket.
class histogram {
 public:
  explicit histogram(std::span<const double> bounds);

  void observe(double v) noexcept;

  struct snapshot {
    std::vector<std::uint64_t> cumulative;  ///< one per bound, then +Inf (== count)
    double sum = 0.0;
    std::uint64_t count = 0;
  };
  snapshot take_snapshot() const;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // per bucket, not cumulative; last is +Inf
  std::atomic<double> sum_{0.0};
};

enum class metric_type { counter, gauge, histogram };

namespace detail {

/// What the registry needs from any family: its name, help and type, and its samples as text.
class family_base {
 public:
  family_base(std::string name, std::string help, std::vector<std::string> label_names);
  virtual ~family_base() = default;
  family_base(const family_base&) = delete;
  family_base& operator=(const family_base&) = delete;

  const std::string& name() const noexcept { return name_; }
  const std::string& help() const noexcept { return help_; }
  const std::vector<std::string>& label_names() const noexcept { return label_names_; }
  virtual metric_type type() const noexcept = 0;
  /// Appends HELP, TYPE and every sample in exposition format 0.0.4.
  virtual void write(std::string& out) const = 0;

 protected:
  std::string name_;
  std::string help_;
  std::vector<std::string> label_names_;
};

}  // namespace detail

/// All metrics of one name, one per distinct set of label values. `with` resolves a label set to its
/// metric (creating it on first use, under a mutex): call it once when the label values are known and
/// keep the reference for the hot path. Thread-safe; owned by the registry.
template <class Metric>
class family final : public detail::family_base {
 public:
  family(std::string name, std::string help, std::vector<std::string> label_names,
         std::vector<double> bounds = {});

  /// The metric for these label values, given in the order of the family's label names.
  /// Throws std::invalid_argument when the number of values differs from the number of label names.
  Metric& with(std::initializer_list<std::string_view> values);
  Metric& with(std::span<const std::string> values);

  metric_type type() const noexcept override;
  void write(std::string& out) const override;
  const std::vector<double>& bounds() const noexcept { return bounds_; }

 private:
  Metric& find_or_create(std::vector<std::string> values);

  std::vector<double> bounds_;  // histograms only
  mutable std::mutex mutex_;    // guards the map shape only; metric updates never take it
  std::map<std::vector<std::string>, std::unique_ptr<Metric>> children_;
};

using counter_family = family<counter>;
using gauge_family = family<gauge>;
using histogram_family = family<histogram>;

extern template class family<counter>;
extern template class family<gauge>;
extern template class family<histogram>;

/// Latency buckets in seconds, 0.5 ms .. 10 s.
std::vector<double> default_latency_buckets();

/// The set of metric families of one process. Created by the composition root and passed by reference to
/// whatever records metrics; outlives them. Registration is thread-safe and idempotent: registering a
/// name again with the same type, labels (and buckets) returns the existing family; a clash (other type,
/// labels or buckets) or an invalid name throws std::invalid_argument, since it is a programming error.
class registry {
 public:
  registry() = default;
  registry(const registry&) = delete;
  registry& operator=(const registry&) = delete;

  counter_family& add_counter(std::string name, std::string help, std::vector<std::string> label_names = {});
  gauge_family& add_gauge(std::string name, std::string help, std::vector<std::string> label_names = {});
  /// `bounds`: ascending, finite upper bounds; +Inf is added by the exposition.
  histogram_family& add_histogram(std::string name, std::string help, std::vector<std::string> label_names,
                                  std::vector<double> bounds);

  /// Every family in Prometheus text exposition format 0.0.4, families in name order.
  std::string expose() const;

 private:
  template <class Family>
  Family& add(metric_type type, std::string name, std::string help, std::vector<std::string> label_names,
              std::vector<double> bounds);

  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<detail::family_base>, std::less<>> families_;
};

/// The content type of `registry::expose()` output.
inline constexpr std::string_view exposition_content_type = "text/plain; version=0.0.4; charset=utf-8";

/// Formats a sample value as the exposition format wants it: shortest round-trip decimal, `+Inf`, `-Inf`,
/// `NaN`.
std::string format_value(double v);

/// Escapes a label value (backslash, double quote, newline) or, with `help` true, a HELP text (backslash,
/// newline).
std::string escape(std::string_view text, bool help = false);

/// True for valid metric names (`[a-zA-Z_:][a-zA-Z0-9_:]*`) and label names (`[a-zA-Z_][a-zA-Z0-9_]*`, not
/// starting with `__`).
bool is_valid_metric_name(std::string_view name);
bool is_valid_label_name(std::string_view name);

}  // namespace bkr::metrics
