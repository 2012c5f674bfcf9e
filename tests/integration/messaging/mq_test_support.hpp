// What the messaging test suites share: a message maker, fast consumer options and a recording handler.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/messaging/consumer.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace bkr::test::mq {

using namespace std::chrono_literals;
using bkr::messaging::delivery;
using bkr::messaging::handler_context;
using bkr::messaging::handler_result;

inline const bkr::system_clock wall;

inline bkr::messaging::outgoing_message msg(const std::string& queue, const std::string& key,
                                            std::chrono::milliseconds delay = 0ms) {
  bkr::messaging::outgoing_message m;
  m.queue = queue;
  m.message =
      bkr::messaging::make_envelope("TestMessage", key, {{"n", key}}, "conformance", "trace-" + key, wall);
  m.delay = delay;
  return m;
}

inline bkr::messaging::consumer_options fast(const std::string& queue) {
  bkr::messaging::consumer_options o;
  o.queue = queue;
  o.batch_size = 16;
  o.lease = 3000ms;
  o.poll_min = 5ms;
  o.poll_max = 100ms;
  o.reap_interval = 100ms;
  o.retry = {5, 20ms, 2.0, 200ms};
  return o;
}

/// Records every delivery (by envelope key) and delegates the verdict. Thread-safe.
class recorder final : public bkr::messaging::handler {
 public:
  using behaviour = std::function<handler_result(const delivery&, handler_context&)>;
  explicit recorder(behaviour b = {}) : behaviour_(std::move(b)) {}

  handler_result handle(const delivery& d, handler_context& ctx) override {
    {
      std::lock_guard lock(mutex_);
      attempts_[d.message.key].push_back(d.message.attempt);
      times_[d.message.key].push_back(std::chrono::steady_clock::now());
      order_.push_back(d.message.key);
      last_[d.message.key] = d;
    }
    return behaviour_ ? behaviour_(d, ctx) : handler_result::commit();
  }
  std::vector<int> attempts(const std::string& key) {
    std::lock_guard lock(mutex_);
    return attempts_[key];
  }
  std::vector<std::chrono::steady_clock::time_point> times(const std::string& key) {
    std::lock_guard lock(mutex_);
    return times_[key];
  }
  std::size_t deliveries() {
    std::lock_guard lock(mutex_);
    return order_.size();
  }
  std::vector<std::string> order() {
    std::lock_guard lock(mutex_);
    return order_;
  }
  std::map<std::string, std::vector<int>> all() {
    std::lock_guard lock(mutex_);
    return attempts_;
  }
  delivery last(const std::string& key) {
    std::lock_guard lock(mutex_);
    return last_[key];
  }

 private:
  behaviour behaviour_;
  std::mutex mutex_;
  std::map<std::string, std::vector<int>> attempts_;
  std::map<std::string, std::vector<std::chrono::steady_clock::time_point>> times_;
  std::map<std::string, delivery> last_;
  std::vector<std::string> order_;
};

}  // namespace bkr::test::mq
