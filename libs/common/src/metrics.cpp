// Metric types, families, the registry and the Prometheus text exposition format (0.0.4).
#include "bkr/common/metrics.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <stdexcept>
#include <type_traits>

namespace bkr::metrics {
namespace {

void append_labels(std::string& out, const std::vector<std::string>& names,
                   const std::vector<std::string>& values, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  if (names.empty() && extra_name.empty())
    return;
  out.push_back('{');
  bool first = true;
  for (std::size_t i = 0; i < names.size(); ++i) {
    if (!first)
      out.push_back(',');
    first = false;
    out += names[i];
    out += "=\"";
    out += escape(values[i]);
    out.push_back('"');
  }
  if (!extra_name.empty()) {
    if (!first)
      out.push_back(',');
    out += extra_name;
    out += "=\"";
    out += escape(extra_value);
    out.push_back('"');
  }
  out.push_back('}');
}

void append_header(std::string& out, const detail::family_base& f, std::string_view type) {
  out += "# HELP ";
  out += f.name();
  out.push_back(' ');
  out += escape(f.help(), true);
  out += "\n# TYPE ";
  out += f.name();
  out.push_back(' ');
  out += type;
  out.push_back('\n');
}

void append_sample(std::string& out, std::string_view name, std::string_view suffix,
                   const std::vector<std::string>& label_names, const std::vector<std::string>& values,
                   std::string_view value, std::string_view extra_name = {},
                   std::string_view extra_value = {}) {
  out += name;
  out += suffix;
  append_labels(out, label_names, values, extra_name, extra_value);
  out.push_back(' ');
  out += value;
  out.push_back('\n');
}

void check_bounds(const std::vector<double>& bounds) {
  if (bounds.empty())
    throw std::invalid_argument("a histogram needs at least one bucket bound");
  for (std::size_t i = 0; i < bounds.size(); ++i) {
    if (!std::isfinite(bounds[i]))
      throw std::invalid_argument("histogram bucket bounds must be finite (+Inf is implicit)");
    if (i > 0 && !(bounds[i - 1] < bounds[i]))
      throw std::invalid_argument("histogram bucket bounds must be strictly ascending");
  }
}

}  // namespace

// ---- histogram ----

histogram::histogram(std::span<const double> bounds)
    : bounds_(bounds.begin(), bounds.end()),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {
  for (std::size_t i = 0; i <= bounds_.size(); ++i)
    buckets_[i].store(0, std::memory_order_relaxed);
}

void histogram::observe(double v) noexcept {
  // Buckets are few (tens), so a linear scan beats a binary search on branch prediction.
  std::size_t i = 0;
  while (i < bounds_.size() && v > bounds_[i])
    ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

histogram::snapshot histogram::take_snapshot() const {
  snapshot s;
  s.cumulative.reserve(bounds_.size() + 1);
  std::uint64_t running = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    running += buckets_[i].load(std::memory_order_relaxed);
    s.cumulative.push_back(running);
  }
  // The count is derived from the buckets so that `_count` always equals the +Inf bucket.
  s.count = running;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

// ---- families ----

namespace detail {

family_base::family_base(std::string name, std::string help, std::vector<std::string> label_names)
    : name_(std::move(name)), help_(std::move(help)), label_names_(std::move(label_names)) {}

}  // namespace detail

template <class Metric>
family<Metric>::family(std::string name, std::string help, std::vector<std::string> label_names,
                       std::vector<double> bounds)
    : family_base(std::move(name), std::move(help), std::move(label_names)), bounds_(std::move(bounds)) {
  // An unlabelled family has exactly one metric; create it so that it is exposed (as 0) from the start.
  if (label_names_.empty())
    find_or_create({});
}

template <class Metric>
Metric& family<Metric>::with(std::initializer_list<std::string_view> values) {
  std::vector<std::string> v;
  v.reserve(values.size());
  for (auto s : values)
    v.emplace_back(s);
  return find_or_create(std::move(v));
}

template <class Metric>
Metric& family<Metric>::with(std::span<const std::string> values) {
  return find_or_create(std::vector<std::string>(values.begin(), values.end()));
}

template <class Metric>
Metric& family<Metric>::find_or_create(std::vector<std::string> values) {
  if (values.size() != label_names_.size())
    throw std::invalid_argument("metric " + name_ + " takes " + std::to_string(label_names_.size()) +
                                " label values, got " + std::to_string(values.size()));
  std::lock_guard lock(mutex_);
  auto it = children_.find(values);
  if (it != children_.end())
    return *it->second;
  std::unique_ptr<Metric> m;
  if constexpr (std::is_same_v<Metric, histogram>)
    m = std::make_unique<histogram>(bounds_);
  else
    m = std::make_unique<Metric>();
  auto& ref = *m;
  children_.emplace(std::move(values), std::move(m));
  return ref;
}

template <class Metric>
metric_type family<Metric>::type() const noexcept {
  if constexpr (std::is_same_v<Metric, counter>)
    return metric_type::counter;
  else if constexpr (std::is_same_v<Metric, gauge>)
    return metric_type::gauge;
  else
    return metric_type::histogram;
}

template <class Metric>
void family<Metric>::write(std::string& out) const {
  std::lock_guard lock(mutex_);
  if constexpr (std::is_same_v<Metric, counter>) {
    append_header(out, *this, "counter");
    for (const auto& [values, m] : children_)
      append_sample(out, name_, "", label_names_, values, std::to_string(m->value()));
  } else if constexpr (std::is_same_v<Metric, gauge>) {
    append_header(out, *this, "gauge");
    for (const auto& [values, m] : children_)
      append_sample(out, name_, "", label_names_, values, format_value(m->value()));
  } else {
    append_header(out, *this, "histogram");
    std::vector<std::string> les;
    les.reserve(bounds_.size() + 1);
    for (double b : bounds_)
      les.push_back(format_value(b));
    les.emplace_back("+Inf");
    for (const auto& [values, m] : children_) {
      const auto snap = m->take_snapshot();
      for (std::size_t i = 0; i < les.size(); ++i)
        append_sample(out, name_, "_bucket", label_names_, values, std::to_string(snap.cumulative[i]), "le",
                      les[i]);
      append_sample(out, name_, "_sum", label_names_, values, format_value(snap.sum));
      append_sample(out, name_, "_count", label_names_, values, std::to_string(snap.count));
    }
  }
}

template class family<counter>;
template class family<gauge>;
template class family<histogram>;

// ---- registry ----

std::vector<double> default_latency_buckets() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
}

template <class Family>
Family& registry::add(metric_type type, std::string name, std::string help,
                      std::vector<std::string> label_names, std::vector<double> bounds) {
  if (!is_valid_metric_name(name))
    throw std::invalid_argument("invalid metric name: " + name);
  for (const auto& l : label_names) {
    if (!is_valid_label_name(l))
      throw std::invalid_argument("invalid label name " + l + " for metric " + name);
    if (type == metric_type::histogram && l == "le")
      throw std::invalid_argument("histogram " + name + " may not use the label name le");
  }
  for (std::size_t i = 0; i < label_names.size(); ++i)
    for (std::size_t j = i + 1; j < label_names.size(); ++j)
      if (label_names[i] == label_names[j])
        throw std::invalid_argument("duplicate label name " + label_names[i] + " for metric " + name);
  if (type == metric_type::histogram)
    check_bounds(bounds);

  std::lock_guard lock(mutex_);
  if (auto it = families_.find(name); it != families_.end()) {
    auto* existing = dynamic_cast<Family*>(it->second.get());
    if (existing == nullptr || existing->type() != type || existing->label_names() != label_names ||
        existing->bounds() != bounds)
      throw std::invalid_argument("metric " + name +
                                  " is already registered with another type, labels or buckets");
    return *existing;
  }
  auto f = std::make_unique<Family>(name, std::move(help), std::move(label_names), std::move(bounds));
  auto& ref = *f;
  families_.emplace(std::move(name), std::move(f));
  return ref;
}

counter_family& registry::add_counter(std::string name, std::string help,
                                      std::vector<std::string> label_names) {
  return add<counter_family>(metric_type::counter, std::move(name), std::move(help), std::move(label_names),
                             {});
}

gauge_family& registry::add_gauge(std::string name, std::string help, std::vector<std::string> label_names) {
  return add<gauge_family>(metric_type::gauge, std::move(name), std::move(help), std::move(label_names), {});
}

histogram_family& registry::add_histogram(std::string name, std::string help,
                                          std::vector<std::string> label_names, std::vector<double> bounds) {
  return add<histogram_family>(metric_type::histogram, std::move(name), std::move(help),
                               std::move(label_names), std::move(bounds));
}

std::string registry::expose() const {
  std::string out;
  std::lock_guard lock(mutex_);
  for (const auto& [name, f] : families_)
    f->write(out);
  return out;
}

// ---- text helpers ----

std::string format_value(double v) {
  if (std::isnan(v))
    return "NaN";
  if (std::isinf(v))
    return v > 0 ? "+Inf" : "-Inf";
  // Like Go's strconv 'g' shortest form, which other Prometheus clients use: plain decimals for ordinary
  // magnitudes (`0.0005`, `10`), exponents only for very small or very large values.
  char buf[400];
  const double mag = std::fabs(v);
  const auto r = (mag == 0.0 || (mag >= 1e-4 && mag < 1e21))
                     ? std::to_chars(buf, buf + sizeof buf, v, std::chars_format::fixed)
                     : std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}

std::string escape(std::string_view text, bool help) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (c == '"' && !help)
      out += "\\\"";
    else
      out.push_back(c);
  }
  return out;
}

bool is_valid_metric_name(std::string_view name) {
  if (name.empty())
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit)))
      return false;
  }
  return true;
}

bool is_valid_label_name(std::string_view name) {
  if (name.empty() || name.starts_with("__"))
    return false;
  for (std::size_t i = 0; i < name.size(); ++i) {
    const char c = name[i];
    const bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
    const bool digit = c >= '0' && c <= '9';
    if (!(alpha || (i > 0 && digit)))
      return false;
  }
  return true;
}

}  // namespace bkr::metrics
