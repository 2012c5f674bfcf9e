// The gate's watcher thread: starts and stops the consumer as the gate opens and closes.
#include "bkr/app/claim_gate.hpp"

namespace bkr::app {
namespace {

void add(messaging::consumer_counts& into, const messaging::consumer_counts& c) {
  into.processed += c.processed;
  into.retried += c.retried;
  into.dead_lettered += c.dead_lettered;
  into.lease_lost += c.lease_lost;
  into.batches += c.batches;
  into.polls += c.polls;
}

}  // namespace

gated_consumer::gated_consumer(factory make, std::function<bool()> may_claim, claim_gate_options options,
                               std::optional<bkr::logger> log)
    : make_(std::move(make)), may_claim_(std::move(may_claim)), options_(options), log_(std::move(log)) {}

gated_consumer::~gated_consumer() {
  stop(std::chrono::milliseconds{0});
}

void gated_consumer::start() {
  std::lock_guard lock(mutex_);
  if (started_)
    return;
  started_ = true;
  watcher_ = std::thread([this] { watch(); });
}

void gated_consumer::poke() {
  {
    std::lock_guard lock(mutex_);
    poked_ = true;
  }
  cv_.notify_all();
}

void gated_consumer::watch() {
  while (!stopping_) {
    try {
      const bool may = may_claim_();
      if (may && !claiming_)
        open_gate();
      else if (!may && claiming_)
        close_gate(options_.pause_deadline);
    } catch (const std::exception& e) {
      // E.g. no connection for a new consumer: look again at the next check.
      if (log_)
        log_->error("claim gate could not change the consumer", {{"error", e.what()}});
    }
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, options_.check_interval, [&] { return poked_ || stopping_.load(); });
    poked_ = false;
  }
}

void gated_consumer::open_gate() {
  auto c = make_();
  c->start();
  {
    std::lock_guard lock(mutex_);
    current_ = std::move(c);
  }
  claiming_ = true;
  if (log_)
    log_->info("claiming started");
}

void gated_consumer::close_gate(std::chrono::milliseconds deadline) {
  std::unique_ptr<messaging::consumer> c;
  {
    std::lock_guard lock(mutex_);
    c = std::move(current_);
  }
  claiming_ = false;
  if (!c)
    return;
  c->stop(deadline);
  const auto counts = c->counts();
  c.reset();
  {
    std::lock_guard lock(mutex_);
    add(finished_, counts);
  }
  if (log_ && !stopping_)
    log_->warn("claiming paused: a required dependency is unavailable");
}

void gated_consumer::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  {
    // Taking the lock orders the flag before the watcher's next predicate check: no lost wake-up.
    std::lock_guard lock(mutex_);
  }
  cv_.notify_all();
  if (watcher_.joinable())
    watcher_.join();
  close_gate(deadline);
}

void gated_consumer::wake() {
  std::lock_guard lock(mutex_);
  if (current_)
    current_->wake();
}

messaging::consumer_counts gated_consumer::counts() const {
  std::lock_guard lock(mutex_);
  auto total = finished_;
  if (current_)
    add(total, current_->counts());
  return total;
}

}  // namespace bkr::app
