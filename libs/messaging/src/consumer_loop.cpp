// The consumer thread: batches back to back while work comes in, an adaptive idle wait otherwise.
#include "bkr/messaging/consumer.hpp"

#include "bkr/common/ids.hpp"

#include <algorithm>

namespace bkr::messaging {

consumer_loop::consumer_loop(consumer_options options, handler& h)
    : handler_(h), options_(std::move(options)) {
  if (options_.name.empty())
    options_.name = options_.queue + "/" + new_uuid_v7();
  if (!options_.random)
    options_.random = default_random_source();
  if (options_.batch_size == 0)
    options_.batch_size = 1;
  if (options_.poll_min.count() < 1)
    options_.poll_min = std::chrono::milliseconds{1};
  options_.poll_max = std::max(options_.poll_max, options_.poll_min);
  if (options_.log)
    options_.log = options_.log->with({{"queue", options_.queue}, {"consumer", options_.name}});
}

consumer_loop::~consumer_loop() {
  shutdown_now();
}

void consumer_loop::shutdown_now() noexcept {
  stopping_ = true;
  deadline_passed_ = true;
  {
    std::lock_guard lock(mutex_);
    ++wakeups_;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

void consumer_loop::start() {
  std::lock_guard lock(mutex_);
  if (started_)
    return;
  started_ = true;
  thread_ = std::thread([this] { loop(); });
}

void consumer_loop::stop(std::chrono::milliseconds deadline) {
  stopping_ = true;
  wake();
  if (!thread_.joinable())
    return;
  // The deadline only tells handlers to give up; a handler cannot be interrupted, so we still join.
  std::mutex m;
  std::condition_variable done_cv;
  bool done = false;
  std::thread watchdog([&] {
    std::unique_lock lock(m);
    if (!done_cv.wait_for(lock, deadline, [&] { return done; }))
      deadline_passed_ = true;
  });
  thread_.join();
  {
    std::lock_guard lock(m);
    done = true;
  }
  done_cv.notify_all();
  watchdog.join();
}

void consumer_loop::wake() {
  {
    std::lock_guard lock(mutex_);
    ++wakeups_;
  }
  cv_.notify_all();
}

void consumer_loop::note_claim() {
  notes_claims_ = true;
  note_claim_unmarked();
}

void consumer_loop::note_claim_unmarked() {
  std::lock_guard lock(mutex_);
  claim_seen_ = wakeups_;
}

consumer_counts consumer_loop::counts() const {
  return {processed_.load(),  retried_.load(), dead_lettered_.load(),
          lease_lost_.load(), batches_.load(), polls_.load()};
}

void consumer_loop::log_warn(std::string_view msg, const nlohmann::json& fields) const {
  if (options_.log)
    options_.log->warn(msg, fields);
}
void consumer_loop::log_error(std::string_view msg, const nlohmann::json& fields) const {
  if (options_.log)
    options_.log->error(msg, fields);
}
void consumer_loop::log_debug(std::string_view msg, const nlohmann::json& fields) const {
  if (options_.log && options_.log->enabled(spdlog::level::debug))
    options_.log->debug(msg, fields);
}

void consumer_loop::loop() {
  using clock = std::chrono::steady_clock;
  auto next_reap = clock::now();
  auto idle_wait = options_.poll_min;
  bool hinted = false;  // the last wait ended with a wake-up hint (a NOTIFY, a local publish)
  while (!stopping_) {
    // A hinted wake-up claims first: reaping that fell due meanwhile waits one batch rather than delaying
    // the start of the message just published (never more than one reap interval, so hints cannot starve it).
    const auto now = clock::now();
    if (now >= next_reap && (!hinted || now >= next_reap + options_.reap_interval)) {
      try {
        reap();
      } catch (const std::exception& e) {
        log_warn("reaping expired leases failed", {{"error", e.what()}});
      }
      next_reap = clock::now() + options_.reap_interval;
    }
    hinted = false;
    // A hint that arrives after a claim started may announce a message the claim did not see; one counted
    // before it announces a message the claim could see. So after a batch that was not full, only a hint
    // newer than the last claim brings the next claim forward: without this, every batch would be followed
    // by claims that find nothing (the hints of the messages it had just claimed).
    batch_report report;
    bool failed = false;
    ++polls_;
    try {
      report = run_batch();
      if (!notes_claims_)  // a backend that never notes its claims: hints during the batch count as seen
        note_claim_unmarked();
    } catch (const std::exception& e) {
      failed = true;
      log_error("batch failed", {{"error", e.what()}});
    }
    if (stopping_)
      break;
    if (!failed && report.claimed >= options_.batch_size) {
      // A full batch: more is probably waiting; claim again at once.
      idle_wait = options_.poll_min;
      continue;
    }
    if (failed)  // hints from before the failure must not end the backoff: the batch may have failed before
      note_claim_unmarked();  // it noted a claim, and an old hint would make every wait end at once
    auto wait = failed ? options_.poll_max : idle_wait;
    if (!failed && report.claimed > 0) {
      // The queue ran dry within this batch: the next claim waits for a newer hint, or the shortest poll.
      wait = options_.poll_min;
    }
    if (report.next_due_in)
      wait = std::min(wait, std::max(*report.next_due_in, std::chrono::milliseconds{1}));
    auto until_reap = std::chrono::duration_cast<std::chrono::milliseconds>(next_reap - clock::now());
    wait = std::min(wait, std::max(until_reap, std::chrono::milliseconds{1}));
    {
      std::unique_lock lock(mutex_);
      const bool woken =
          cv_.wait_for(lock, wait, [&] { return wakeups_ != claim_seen_ || stopping_.load(); });
      hinted = wakeups_ != claim_seen_;
      if (woken || report.claimed > 0)
        idle_wait = options_.poll_min;
      else
        idle_wait = std::min(options_.poll_max, idle_wait * 2);
    }
  }
  try {
    on_exit();
  } catch (const std::exception& e) {
    log_warn("consumer exit step failed", {{"error", e.what()}});
  }
}

}  // namespace bkr::messaging
