// The process's LISTEN connection: a thread that waits for notifications and wakes matching consumers.
#include "bkr/messaging/postgres/notifier.hpp"

#include <pqxx/pqxx>

#include <vector>

namespace bkr::messaging::postgres {
namespace {

class receiver final : public pqxx::notification_receiver {
 public:
  receiver(pqxx::connection_base& c, std::function<void(const std::string&)> on)
      : pqxx::notification_receiver(c, notify_channel), on_(std::move(on)) {}
  void operator()(const std::string& payload, int) override { on_(payload); }

 private:
  std::function<void(const std::string&)> on_;
};

}  // namespace

notifier::notifier(std::string conninfo, std::optional<bkr::logger> log)
    : conninfo_(std::move(conninfo)), log_(std::move(log)) {}

notifier::~notifier() {
  stop();
}

void notifier::start() {
  if (thread_.joinable())
    return;
  stop_ = false;
  thread_ = std::thread([this] { run(); });
}

void notifier::stop() {
  stop_ = true;
  if (thread_.joinable())
    thread_.join();
  listening_ = false;
}

void notifier::subscribe(const std::string& queue, consumer* c) {
  std::lock_guard lock(mutex_);
  subscribers_.emplace(queue, c);
}

void notifier::unsubscribe(const std::string& queue, consumer* c) {
  std::lock_guard lock(mutex_);
  auto [b, e] = subscribers_.equal_range(queue);
  for (auto it = b; it != e; ++it)
    if (it->second == c) {
      subscribers_.erase(it);
      return;
    }
}

bool notifier::wait_listening(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (!listening_ && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds{5});
  return listening_;
}

void notifier::dispatch(const std::string& queue) {
  std::lock_guard lock(mutex_);
  auto [b, e] = subscribers_.equal_range(queue);
  for (auto it = b; it != e; ++it)
    it->second->wake();
}

void notifier::wake_all() {
  std::lock_guard lock(mutex_);
  for (auto& [q, c] : subscribers_)
    c->wake();
}

void notifier::run() {
  while (!stop_) {
    try {
      pqxx::connection conn(conninfo_);
      receiver r(conn, [this](const std::string& q) { dispatch(q); });
      // LISTEN is issued by the receiver; force it through now so the first NOTIFY is not missed.
      conn.get_notifs();
      listening_ = true;
      wake_all();  // anything published while we were not listening
      while (!stop_)
        conn.await_notification(0, 100000);
      listening_ = false;
    } catch (const std::exception& e) {
      listening_ = false;
      if (log_)
        log_->warn("LISTEN connection failed; consumers fall back to polling", {{"error", e.what()}});
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
  }
}

}  // namespace bkr::messaging::postgres
