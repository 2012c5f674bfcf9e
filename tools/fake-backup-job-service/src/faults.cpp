// The fake job service's fault state: latency, an evenly spread error ratio, outage windows.
#include "bkr/fake_backup_job_service/faults.hpp"

#include <algorithm>
#include <cmath>

namespace bkr::fake_backup_job_service {

std::string_view to_string(outage_mode m) {
  return m == outage_mode::unavailable ? "unavailable" : "refuse";
}

std::optional<outage_mode> parse_outage_mode(std::string_view text) {
  if (text == "unavailable")
    return outage_mode::unavailable;
  if (text == "refuse")
    return outage_mode::refuse;
  return std::nullopt;
}

fault_injector::fault_injector(fault_settings initial, const bkr::clock& clock)
    : clock_(clock), settings_(initial) {}

fault_settings fault_injector::settings() const {
  std::lock_guard lock(mutex_);
  return settings_;
}

void fault_injector::set(fault_settings s) {
  std::lock_guard lock(mutex_);
  settings_ = s;
  count_ = 0;
}

std::optional<outage> fault_injector::current_locked() const {
  if (outage_ && clock_.now() >= outage_->until)
    outage_.reset();
  return outage_;
}

verdict fault_injector::next() {
  std::lock_guard lock(mutex_);
  if (current_locked())
    return verdict::outage;
  // In parts per million with integer arithmetic, so that exactly round(n * ratio) of n requests fail.
  const auto ppm =
      static_cast<std::uint64_t>(std::llround(std::clamp(settings_.error_ratio, 0.0, 1.0) * 1e6));
  const auto n = ++count_;
  const bool fail = n * ppm / 1'000'000 > (n - 1) * ppm / 1'000'000;
  return fail ? verdict::injected_error : verdict::answer;
}

void fault_injector::start_outage(outage_mode mode, std::chrono::milliseconds length) {
  std::lock_guard lock(mutex_);
  outage_ = outage{mode, clock_.now() + length};
}

void fault_injector::end_outage() {
  std::lock_guard lock(mutex_);
  outage_.reset();
}

std::optional<outage> fault_injector::current_outage() const {
  std::lock_guard lock(mutex_);
  return current_locked();
}

nlohmann::json fault_injector::to_json() const {
  std::lock_guard lock(mutex_);
  nlohmann::json j{{"latencyMs", settings_.latency.count()}, {"errorRatio", settings_.error_ratio}};
  if (const auto o = current_locked()) {
    j["outage"] = {{"mode", to_string(o->mode)},
                   {"until", format_timestamp(o->until)},
                   {"remainingMs", (o->until - clock_.now()).count()}};
  } else {
    j["outage"] = nullptr;
  }
  return j;
}

}  // namespace bkr::fake_backup_job_service
