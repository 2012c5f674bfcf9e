// The process's LISTEN connection: a thread that listens on its consumers' queue channels and wakes them.
#include "bkr/messaging/postgres/notifier.hpp"

#include "bkr/common/digest.hpp"

#include <pqxx/pqxx>

#include <memory>
#include <vector>

namespace bkr::messaging::postgres {
namespace {

class receiver final : public pqxx::notification_receiver {
 public:
  receiver(pqxx::connection_base& c, const std::string& channel, std::function<void()> on)
      : pqxx::notification_receiver(c, channel), on_(std::move(on)) {}
  void operator()(const std::string&, int) override { on_(); }

 private:
  std::function<void()> on_;
};

}  // namespace

std::string channel_of(std::string_view queue) {
  constexpr std::size_t max_plain = 56;  // 63 bytes with the prefix
  if (queue.size() <= max_plain)
    return "bkr_mq:" + std::string(queue);
  return "bkr_mq:" + std::string(queue.substr(0, 39)) + "#" + sha256_hex(queue).substr(0, 16);
}

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
  std::unique_lock lock(mutex_);
  subscribers_.emplace(queue, c);
  ++changes_;
  // The thread LISTENs within one await round; a doorbell rung before that would be missed.
  if (listening_)
    changed_.wait_for(lock, std::chrono::seconds{1},
                      [&] { return listened_.count(queue) != 0 || !listening_; });
}

void notifier::unsubscribe(const std::string& queue, consumer* c) {
  std::lock_guard lock(mutex_);
  auto [b, e] = subscribers_.equal_range(queue);
  for (auto it = b; it != e; ++it)
    if (it->second == c) {
      subscribers_.erase(it);
      ++changes_;
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

std::set<std::string> notifier::wanted() {
  std::lock_guard lock(mutex_);
  std::set<std::string> out;
  for (const auto& [q, c] : subscribers_)
    out.insert(q);
  return out;
}

void notifier::run() {
  while (!stop_) {
    try {
      pqxx::connection conn(conninfo_);
      std::map<std::string, std::unique_ptr<receiver>> receivers;  // destroyed before conn
      // Listens on the channels of the queues with subscribers and stops listening on the others.
      unsigned seen = 0;
      auto follow = [&] {
        seen = changes_.load();
        const auto queues = wanted();
        for (auto it = receivers.begin(); it != receivers.end();)
          it = queues.count(it->first) != 0 ? std::next(it) : receivers.erase(it);
        for (const auto& q : queues)
          if (receivers.count(q) == 0)
            receivers.emplace(q, std::make_unique<receiver>(conn, channel_of(q), [this, q] { dispatch(q); }));
        conn.get_notifs();  // the LISTENs and UNLISTENs go through now
        {
          std::lock_guard lock(mutex_);
          listened_ = queues;
        }
        changed_.notify_all();
      };
      follow();
      listening_ = true;
      wake_all();  // anything published while we were not listening
      while (!stop_) {
        conn.await_notification(0, 20000);
        if (changes_.load() != seen)  // a subscriber came or went
          follow();
      }
      listening_ = false;
    } catch (const std::exception& e) {
      listening_ = false;
      {
        std::lock_guard lock(mutex_);
        listened_.clear();
      }
      changed_.notify_all();
      if (log_)
        log_->warn("LISTEN connection failed; consumers fall back to polling", {{"error", e.what()}});
      for (int i = 0; i < 10 && !stop_; ++i)
        std::this_thread::sleep_for(std::chrono::milliseconds{100});
    }
  }
}

}  // namespace bkr::messaging::postgres
