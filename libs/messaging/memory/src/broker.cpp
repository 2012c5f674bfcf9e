// Memory backend: the same state machine as the mq schema, guarded by one mutex.
#include "bkr/messaging/memory/broker.hpp"

#include <algorithm>

namespace bkr::messaging::memory {
namespace {

const bkr::system_clock& wall_clock() {
  static const bkr::system_clock c;
  return c;
}

/// The handler's view of a memory settlement: publishes wait in a buffer until the batch settles.
class memory_context final : public handler_context {
 public:
  memory_context(const std::atomic<bool>& deadline) : deadline_(deadline) {}
  void publish(outgoing_message message) override { publishes.push_back(std::move(message)); }
  void after_commit(std::function<void()> fn) override { hooks.push_back(std::move(fn)); }
  bool stop_requested() const override { return deadline_.load(); }

  std::vector<outgoing_message> publishes;
  std::vector<std::function<void()>> hooks;

 protected:
  void* native(const std::type_info&) override { return nullptr; }

 private:
  const std::atomic<bool>& deadline_;
};

}  // namespace

void transaction::publish(outgoing_message message) {
  pending_.push_back(std::move(message));
}

void transaction::commit() {
  if (committed_)
    throw std::logic_error("memory transaction committed twice");
  committed_ = true;
  broker_.apply_publishes(std::move(pending_));
  pending_.clear();
}

broker::broker(const bkr::clock& clock) : clock_(clock) {}
broker::broker() : clock_(wall_clock()) {}

void broker::insert_locked(outgoing_message m, timestamp now) {
  if (m.dedup_key && !dedup_.emplace(m.queue, *m.dedup_key).second)
    return;
  if (messages_.count(m.message.message_id) != 0)
    return;
  stored s;
  s.seq = ++seq_;
  s.run_at = now + m.delay;
  s.enqueued_at = now;
  std::string id = m.message.message_id;
  s.m = std::move(m);
  messages_.emplace(std::move(id), std::move(s));
}

void broker::apply_publishes(std::vector<outgoing_message> messages) {
  std::set<std::string> queues;
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    for (auto& m : messages) {
      queues.insert(m.queue);
      insert_locked(std::move(m), now);
    }
  }
  wake(queues);
}

void broker::wake(const std::set<std::string>& queues) {
  std::vector<messaging::consumer*> targets;
  {
    std::lock_guard lock(mutex_);
    for (const auto& q : queues) {
      auto [b, e] = subscribers_.equal_range(q);
      for (auto it = b; it != e; ++it)
        targets.push_back(it->second);
    }
  }
  // wake() only takes the consumer's own lock; a consumer unsubscribes before it is destroyed.
  for (auto* c : targets)
    c->wake();
}

void broker::subscribe(const std::string& queue, messaging::consumer* c) {
  std::lock_guard lock(mutex_);
  subscribers_.emplace(queue, c);
}

void broker::unsubscribe(const std::string& queue, messaging::consumer* c) {
  std::lock_guard lock(mutex_);
  auto [b, e] = subscribers_.equal_range(queue);
  for (auto it = b; it != e; ++it)
    if (it->second == c) {
      subscribers_.erase(it);
      return;
    }
}

std::vector<broker::claimed> broker::claim(const std::string& queue, std::size_t n, const std::string& owner,
                                           std::chrono::milliseconds lease) {
  std::lock_guard lock(mutex_);
  std::vector<claimed> out;
  if (paused_.count(queue) != 0)
    return out;
  auto now = clock_.now();
  std::vector<stored*> ready;
  for (auto& [id, s] : messages_)
    if (s.m.queue == queue && !s.leased_until && s.run_at <= now)
      ready.push_back(&s);
  std::sort(ready.begin(), ready.end(), [](const stored* a, const stored* b) {
    if (a->m.priority != b->m.priority)
      return a->m.priority > b->m.priority;
    if (a->run_at != b->run_at)
      return a->run_at < b->run_at;
    return a->seq < b->seq;
  });
  if (ready.size() > n)
    ready.resize(n);
  for (auto* s : ready) {
    s->leased_until = now + lease;
    s->owner = owner;
    ++s->fence;
    ++s->attempt;
    claimed c;
    c.d.queue = queue;
    c.d.message = s->m.message;
    c.d.message.attempt = s->attempt;
    c.d.priority = s->m.priority;
    c.fence = s->fence;
    out.push_back(std::move(c));
  }
  return out;
}

std::optional<std::chrono::milliseconds> broker::next_due_in(const std::string& queue) {
  std::lock_guard lock(mutex_);
  std::optional<timestamp> earliest;
  for (auto& [id, s] : messages_)
    if (s.m.queue == queue && !s.leased_until && (!earliest || s.run_at < *earliest))
      earliest = s.run_at;
  if (!earliest)
    return std::nullopt;
  return std::max(std::chrono::milliseconds{0}, *earliest - clock_.now());
}

void broker::dead_letter_locked(stored& s, std::string reason, timestamp now) {
  dead_letter d;
  d.queue = s.m.queue;
  d.message = s.m.message;
  d.message.attempt = s.attempt;
  d.priority = s.m.priority;
  d.reason = std::move(reason);
  d.last_error = s.last_error;
  d.first_seen = s.enqueued_at;
  d.last_seen = now;
  ++counters_[s.m.queue].dead_lettered;
  dead_[s.m.message.message_id] = std::move(d);
}

std::set<std::string> broker::settle(const std::string& queue, const std::string& owner, settlement st) {
  (void)owner;
  std::set<std::string> lost;
  std::vector<outgoing_message> publishes;
  std::set<std::string> queues;  // to wake: where the settled handlers published, and ours on a hand-back
  {
    std::lock_guard lock(mutex_);
    auto now = clock_.now();
    auto find = [&](const std::string& id, std::uint64_t fence) -> stored* {
      auto it = messages_.find(id);
      if (it == messages_.end() || it->second.fence != fence || !it->second.leased_until) {
        lost.insert(id);
        return nullptr;
      }
      return &it->second;
    };
    for (auto& c : st.done) {
      if (!find(c.id, c.fence))
        continue;
      messages_.erase(c.id);
      ++counters_[queue].processed;
      for (auto& p : c.publishes) {
        queues.insert(p.queue);
        publishes.push_back(std::move(p));
      }
    }
    for (auto& r : st.retries) {
      stored* s = find(r.id, r.fence);
      if (!s)
        continue;
      s->leased_until.reset();
      s->owner.clear();
      ++s->fence;
      s->run_at = now + r.delay;
      s->last_error = r.error;
      if (!r.attempt_spent && s->attempt > 0)
        --s->attempt;
      ++counters_[queue].retried;
    }
    for (auto& r : st.dead) {
      stored* s = find(r.id, r.fence);
      if (!s)
        continue;
      if (!r.error.empty())
        s->last_error = r.error;
      dead_letter_locked(*s, r.reason, now);
      messages_.erase(r.id);
    }
    for (auto& r : st.handed_back) {
      stored* s = find(r.id, r.fence);
      if (!s)
        continue;
      s->leased_until.reset();
      s->owner.clear();
      ++s->fence;
      --s->attempt;  // handed back unstarted: the attempt was not spent
    }
    auto now2 = clock_.now();
    for (auto& p : publishes)
      insert_locked(std::move(p), now2);
  }
  if (!st.handed_back.empty())
    queues.insert(queue);
  wake(queues);
  return lost;
}

std::size_t broker::reap(const std::string& queue, int max_attempts) {
  std::lock_guard lock(mutex_);
  auto now = clock_.now();
  std::size_t n = 0;
  for (auto it = messages_.begin(); it != messages_.end();) {
    stored& s = it->second;
    if (s.m.queue == queue && s.leased_until && *s.leased_until < now) {
      ++n;
      s.last_error = "lease expired";
      if (s.attempt >= max_attempts) {
        dead_letter_locked(s, "lease expired on the last attempt", now);
        it = messages_.erase(it);
        continue;
      }
      s.leased_until.reset();
      s.owner.clear();
      ++s.fence;
    }
    ++it;
  }
  return n;
}

std::vector<queue_stats> broker::stats() {
  std::lock_guard lock(mutex_);
  auto now = clock_.now();
  std::map<std::string, queue_stats> all;
  auto at = [&](const std::string& q) -> queue_stats& {
    auto& s = all[q];
    s.queue = q;
    return s;
  };
  for (auto& [id, s] : messages_) {
    auto& qs = at(s.m.queue);
    if (s.leased_until) {
      ++qs.leased;
    } else if (s.run_at > now) {
      ++qs.delayed;
    } else {
      ++qs.ready;
      auto age = std::chrono::duration_cast<std::chrono::milliseconds>(now - s.run_at);
      if (!qs.oldest_ready_age || age > *qs.oldest_ready_age)
        qs.oldest_ready_age = age;
    }
  }
  for (auto& [id, d] : dead_)
    ++at(d.queue).dead;
  for (auto& [q, c] : counters_) {
    auto& qs = at(q);
    qs.processed = c.processed;
    qs.retried = c.retried;
    qs.dead_lettered = c.dead_lettered;
  }
  for (auto& q : paused_)
    at(q).paused = true;
  std::vector<queue_stats> out;
  for (auto& [q, s] : all)
    out.push_back(s);
  return out;
}

std::vector<waiting_message> broker::peek(std::string_view queue, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<const stored*> waiting;
  for (const auto& [id, s] : messages_)
    if (s.m.queue == queue)
      waiting.push_back(&s);
  std::sort(waiting.begin(), waiting.end(), [](const stored* a, const stored* b) { return a->seq < b->seq; });
  std::vector<waiting_message> out;
  for (const auto* s : waiting) {
    if (out.size() == limit)
      break;
    waiting_message w{s->m.queue,   s->m.message, s->enqueued_at, s->run_at, s->run_at > s->enqueued_at,
                      s->last_error};
    w.message.attempt = s->attempt;
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<dead_letter> broker::list_dead_letters(std::optional<std::string> queue, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<dead_letter> out;
  for (auto& [id, d] : dead_)
    if (!queue || d.queue == *queue)
      out.push_back(d);
  std::sort(out.begin(), out.end(), [](const dead_letter& a, const dead_letter& b) {
    return a.last_seen != b.last_seen ? a.last_seen > b.last_seen
                                      : a.message.message_id > b.message.message_id;
  });
  if (out.size() > limit)
    out.resize(limit);
  return out;
}

result<dead_letter> broker::show_dead_letter(std::string_view message_id) {
  std::lock_guard lock(mutex_);
  auto it = dead_.find(std::string(message_id));
  if (it == dead_.end())
    return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
  return it->second;
}

result<void> broker::redrive(std::string_view message_id) {
  std::string queue;
  {
    std::lock_guard lock(mutex_);
    auto it = dead_.find(std::string(message_id));
    if (it == dead_.end())
      return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
    outgoing_message m{it->second.queue, it->second.message, std::nullopt, it->second.priority, {}};
    m.message.attempt = 0;
    queue = m.queue;
    dead_.erase(it);
    insert_locked(std::move(m), clock_.now());
  }
  wake({queue});
  return {};
}

std::size_t broker::redrive_all(std::string_view queue) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    for (auto& [id, d] : dead_)
      if (d.queue == queue)
        ids.push_back(id);
  }
  std::size_t n = 0;
  for (auto& id : ids)
    if (redrive(id))
      ++n;
  return n;
}

std::size_t broker::purge_dead_letters(std::optional<std::string> queue) {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto it = dead_.begin(); it != dead_.end();) {
    if (!queue || it->second.queue == *queue) {
      it = dead_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

std::size_t broker::purge_queue(std::string_view queue) {
  std::lock_guard lock(mutex_);
  std::size_t n = 0;
  for (auto it = messages_.begin(); it != messages_.end();) {
    if (it->second.m.queue == queue && !it->second.leased_until) {
      it = messages_.erase(it);
      ++n;
    } else {
      ++it;
    }
  }
  return n;
}

void broker::pause(std::string_view queue) {
  std::lock_guard lock(mutex_);
  paused_.insert(std::string(queue));
}

void broker::resume(std::string_view queue) {
  {
    std::lock_guard lock(mutex_);
    paused_.erase(std::string(queue));
  }
  wake({std::string(queue)});
}

consumer::consumer(broker& b, consumer_options options, handler& h)
    : consumer_loop(std::move(options), h), broker_(b) {
  broker_.subscribe(this->options().queue, this);
}

consumer::~consumer() {
  broker_.unsubscribe(options().queue, this);
  shutdown_now();
}

void consumer::reap() {
  broker_.reap(options_.queue, options_.retry.max_attempts);
}

void consumer::on_exit() {}

consumer_loop::batch_report consumer::run_batch() {
  batch_report report;
  note_claim();
  auto batch = broker_.claim(options_.queue, options_.batch_size, options_.name, options_.lease);
  report.claimed = batch.size();
  if (batch.empty()) {
    report.next_due_in = broker_.next_due_in(options_.queue);
    return report;
  }
  ++batches_;
  std::vector<delivery> deliveries;
  deliveries.reserve(batch.size());
  for (auto& c : batch)
    deliveries.push_back(c.d);
  try {
    handler_.prepare(deliveries);
  } catch (const std::exception& e) {
    log_warn("prepare failed", {{"error", e.what()}});
  }
  broker::settlement st;
  std::map<std::string, std::vector<std::function<void()>>> hooks_by_id;
  for (auto& c : batch) {
    if (stopping()) {
      st.handed_back.push_back({c.d.message.message_id, c.fence});
      continue;
    }
    memory_context ctx(deadline_flag());
    handler_result r;
    try {
      r = handler_.handle(c.d, ctx);
    } catch (...) {
      r = classify(std::current_exception());
    }
    const auto& id = c.d.message.message_id;
    switch (r.kind) {
      case outcome::commit:
        st.done.push_back({id, c.fence, std::move(ctx.publishes)});
        hooks_by_id[id] = std::move(ctx.hooks);
        break;
      case outcome::retry: {
        if (!r.attempt_spent) {
          st.retries.push_back(
              {id, c.fence, r.delay.value_or(std::chrono::milliseconds{0}), r.reason, false});
          break;
        }
        auto d = decide_retry(options_.retry, c.d.message.attempt, r.delay, random_unit());
        if (d.dead_letter)
          st.dead.push_back(
              {id, c.fence, "attempts exhausted (" + std::to_string(c.d.message.attempt) + ")", r.reason});
        else
          st.retries.push_back({id, c.fence, d.delay, r.reason});
        break;
      }
      case outcome::reject:
        st.dead.push_back({id, c.fence, r.reason, r.reason});
        break;
    }
  }
  if (abandoned_)
    return report;
  auto count_kept = [](const auto& items, const std::set<std::string>& lost_ids) {
    std::size_t n = 0;
    for (const auto& i : items)
      n += lost_ids.count(i.id) == 0 ? 1 : 0;
    return n;
  };
  auto done_ids = st.done;  // a copy: settle() consumes st, and only ids are needed below
  std::vector<broker::retried> retry_ids = st.retries;
  std::vector<broker::rejected> dead_ids = st.dead;
  auto lost = broker_.settle(options_.queue, options_.name, std::move(st));
  std::size_t done = count_kept(done_ids, lost), retries = count_kept(retry_ids, lost),
              dead = count_kept(dead_ids, lost);
  lease_lost_ += lost.size();
  if (!lost.empty())
    log_warn("lease lost; results discarded", {{"count", lost.size()}});
  for (auto& [id, fns] : hooks_by_id) {
    if (lost.count(id) != 0)
      continue;
    for (auto& fn : fns)
      fn();
  }
  processed_ += done;
  retried_ += retries;
  dead_lettered_ += dead;
  return report;
}

}  // namespace bkr::messaging::memory
