// Memory backend: the log and cursors of the Postgres backend (partitions, cursors, delay lane, dead letters,
// fair-share ownership, the fence), guarded by one mutex.
#include "bkr/messaging/memory/broker.hpp"

#include <algorithm>

namespace bkr::messaging::memory {
namespace {

const bkr::system_clock& wall_clock() {
  static const bkr::system_clock c;
  return c;
}

constexpr int max_partitions = 256;

/// FNV-1a: a stable hash of the key, so a key stays in its partition for the life of the broker.
std::uint32_t key_hash(const std::string& key) {
  std::uint32_t h = 2166136261u;
  for (unsigned char c : key) {
    h ^= c;
    h *= 16777619u;
  }
  return h;
}

/// The handler's view of a memory settlement: publishes wait in a buffer until the batch settles.
class memory_context final : public handler_context {
 public:
  explicit memory_context(const std::atomic<bool>& deadline) : deadline_(deadline) {}
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

broker::queue_state& broker::queue_locked(std::string_view queue) {
  auto it = queues_.find(queue);
  if (it == queues_.end())
    it = queues_.emplace(std::string(queue), queue_state{}).first;
  return it->second;
}

int broker::partition_of(const queue_state& q, const std::string& key) const {
  return static_cast<int>(key_hash(key) % q.parts.size());
}

// The sequence number and the position in the partition are assigned here, at commit, under the broker's
// mutex: a message is in the log only once its transaction committed, and every message appended later
// lands after it. So a cursor can never pass a position that a transaction still open could fill (the
// Postgres log backend needs its safe watermark for that; here commit order is log order).
void broker::append_locked(outgoing_message m, timestamp now) {
  auto& q = queue_locked(m.queue);
  const int part = partition_of(q, m.message.key);
  m.message.attempt = 0;
  if (m.delay.count() > 0) {
    lane_entry e;
    e.part = part;
    e.message = std::move(m.message);
    e.seq = ++seq_;
    e.run_at = now + m.delay;
    e.first_seen = now;
    lane_insert_locked(q, std::move(e));
    return;
  }
  q.parts[static_cast<std::size_t>(part)].log.push_back({std::move(m.message), ++seq_, now});
}

void broker::lane_insert_locked(queue_state& q, lane_entry e) {
  q.lane.emplace(++lane_ids_, std::move(e));
}

void broker::advance_locked(partition& p, std::uint64_t to) {
  if (to > p.cursor) {
    p.cursor = to;
    p.tries = 0;
  }
  // One consumer group per queue: what its cursor passed is consumed for good.
  while (p.base < p.cursor && !p.log.empty()) {
    p.log.pop_front();
    ++p.base;
  }
}

void broker::dead_letter_locked(const std::string& queue, queue_state& q, envelope message, int attempts,
                                std::string reason, std::string last_error, timestamp first_seen,
                                timestamp now) {
  dead_letter d;
  d.queue = queue;
  d.message = std::move(message);
  d.message.attempt = attempts;
  d.reason = std::move(reason);
  d.last_error = std::move(last_error);
  d.first_seen = first_seen;
  d.last_seen = now;
  ++q.dead_lettered;
  auto id = d.message.message_id;
  dead_[std::move(id)] = std::move(d);
}

void broker::apply_publishes(std::vector<outgoing_message> messages) {
  std::set<std::string> queues;
  {
    std::lock_guard lock(mutex_);
    const auto now = clock_.now();
    for (auto& m : messages) {
      queues.insert(m.queue);
      append_locked(std::move(m), now);
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

// ---- the consumer group: members and partition ownership ----

broker::member_id broker::join(const std::string& queue) {
  member_id id = 0;
  {
    std::lock_guard lock(mutex_);
    id = ++members_;
    queue_locked(queue).members.insert(id);
  }
  wake({queue});  // owners above the new fair share give partitions up at their next read
  return id;
}

void broker::release_locked(partition& p) {
  p.owner = 0;
  p.epoch = ++epochs_;
}

void broker::leave(const std::string& queue, member_id member) {
  if (member == 0)
    return;
  {
    std::lock_guard lock(mutex_);
    auto& q = queue_locked(queue);
    if (q.members.erase(member) == 0)
      return;
    for (auto& p : q.parts)
      if (p.owner == member)
        release_locked(p);
  }
  wake({queue});  // the others take the freed partitions at once
}

std::vector<int> broker::owned(const std::string& queue, member_id member) {
  std::lock_guard lock(mutex_);
  std::vector<int> out;
  auto it = queues_.find(queue);
  if (it == queues_.end() || member == 0)
    return out;
  for (std::size_t i = 0; i < it->second.parts.size(); ++i)
    if (it->second.parts[i].owner == member)
      out.push_back(static_cast<int>(i));
  return out;
}

bool broker::rebalance_locked(queue_state& q, member_id member) {
  const std::size_t members = std::max<std::size_t>(1, q.members.size());
  const std::size_t share = (q.parts.size() + members - 1) / members;
  std::vector<std::size_t> mine;
  for (std::size_t i = 0; i < q.parts.size(); ++i)
    if (q.parts[i].owner == member)
      mine.push_back(i);
  bool released = false;
  // Called between this member's batches, so no batch of its own is in hand on what it gives up.
  while (mine.size() > share) {
    release_locked(q.parts[mine.back()]);
    mine.pop_back();
    released = true;
  }
  for (std::size_t i = 0; i < q.parts.size() && mine.size() < share; ++i)
    if (q.parts[i].owner == 0) {
      q.parts[i].owner = member;
      q.parts[i].epoch = ++epochs_;
      mine.push_back(i);
    }
  return released;
}

result<void> broker::set_partitions(std::string_view queue, int partitions) {
  if (!is_valid_queue_name(queue))
    return bkr::error{errc::invalid_argument, "invalid queue name: " + std::string(queue)};
  if (partitions < 1 || partitions > max_partitions)
    return bkr::error{errc::invalid_argument,
                      "partitions must be between 1 and 256, got " + std::to_string(partitions)};
  {
    std::lock_guard lock(mutex_);
    auto& q = queue_locked(queue);
    if (static_cast<std::size_t>(partitions) < q.parts.size())
      return bkr::error{errc::invalid_argument, "the partitions of " + std::string(queue) +
                                                    " may only grow (messages stay where they are)"};
    q.parts.resize(static_cast<std::size_t>(partitions));
  }
  wake({std::string(queue)});  // the members take their new share
  return {};
}

// ---- reading and settling a batch ----

broker::batch broker::read(const std::string& queue, member_id member, std::size_t batch_size,
                           int max_attempts) {
  batch b;
  bool released = false;
  {
    std::lock_guard lock(mutex_);
    auto& q = queue_locked(queue);
    if (q.members.count(member) == 0)
      return b;  // not (or no longer) a member: a dead consumer reads nothing
    released = rebalance_locked(q, member);
    std::vector<std::size_t> mine;
    for (std::size_t i = 0; i < q.parts.size(); ++i)
      if (q.parts[i].owner == member)
        mine.push_back(i);
    if (!q.paused && !mine.empty()) {
      const auto now = clock_.now();
      const std::size_t each = (batch_size + mine.size() - 1) / mine.size();
      for (auto i : mine) {
        auto& p = q.parts[i];
        const int part = static_cast<int>(i);
        b.epochs[part] = p.epoch;
        // The head is charged when it is read. A charge still standing at the next read means the batch
        // that read it never settled (its consumer died): the head then runs alone, and once its consumers
        // have died on it as often as it may be attempted it goes to the dead letters.
        while (p.cursor < p.end()) {
          if (++p.tries <= max_attempts)
            break;
          const int died = p.tries - 1;
          entry head = std::move(p.log[static_cast<std::size_t>(p.cursor - p.base)]);
          advance_locked(p, p.cursor + 1);
          dead_letter_locked(queue, q, std::move(head.message), died,
                             "its consumer stopped " + std::to_string(died) +
                                 " times while handling it (attempts exhausted)",
                             "its consumer stopped while handling it", head.enqueued_at, now);
          ++b.buried;
        }
        if (p.cursor == p.end())
          continue;
        const std::size_t limit = p.tries > 1 ? 1 : each;
        b.read_after[part] = p.cursor;
        for (std::uint64_t pos = p.cursor; pos < p.end() && pos - p.cursor < limit; ++pos) {
          item it;
          it.part = part;
          it.offset = pos;
          it.d.queue = queue;
          it.d.message = p.log[static_cast<std::size_t>(pos - p.base)].message;
          it.d.message.attempt = pos == p.cursor ? p.tries : 1;
          b.items.push_back(std::move(it));
        }
      }
      // Due lane entries of the owned partitions, earliest first; each delivery spends its attempt now.
      std::vector<std::pair<timestamp, std::uint64_t>> due;
      std::optional<timestamp> next;
      for (const auto& [id, e] : q.lane) {
        if (b.epochs.count(e.part) == 0)
          continue;
        if (e.run_at <= now)
          due.emplace_back(e.run_at, id);
        else if (!next || e.run_at < *next)
          next = e.run_at;
      }
      std::sort(due.begin(), due.end());
      if (due.size() > batch_size)
        due.resize(batch_size);
      for (const auto& [at, id] : due) {
        auto& e = q.lane.at(id);
        if (++e.attempts > max_attempts) {  // the delivery that spent the last attempt never settled
          dead_letter_locked(queue, q, e.message, e.attempts - 1,
                             "its consumer stopped while handling it (attempts exhausted)",
                             e.last_error.empty() ? "its consumer stopped while handling it" : e.last_error,
                             e.first_seen, now);
          q.lane.erase(id);
          ++b.buried;
          continue;
        }
        item it;
        it.part = e.part;
        it.lane_id = id;
        it.d.queue = queue;
        it.d.message = e.message;
        it.d.message.attempt = e.attempts;
        b.items.push_back(std::move(it));
      }
      if (b.items.empty() && next)
        b.next_due_in = std::max(std::chrono::milliseconds{0},
                                 std::chrono::duration_cast<std::chrono::milliseconds>(*next - now));
    }
  }
  if (released)
    wake({queue});
  return b;
}

bool broker::settle(const std::string& queue, member_id member, const batch& b,
                    const std::vector<verdict>& verdicts, std::vector<outgoing_message> publishes) {
  if (verdicts.size() != b.items.size())
    throw std::logic_error("memory settlement: one verdict per item expected");
  std::set<std::string> queues;
  {
    std::lock_guard lock(mutex_);
    auto& q = queue_locked(queue);
    // The fence: every partition still ours under the epoch the batch was read in, every cursor still
    // where the batch read after, every lane entry still there. Otherwise nothing is applied.
    for (const auto& [part, epoch] : b.epochs) {
      const auto& p = q.parts.at(static_cast<std::size_t>(part));
      if (p.owner != member || p.epoch != epoch)
        return false;
    }
    for (const auto& [part, cursor] : b.read_after)
      if (q.parts.at(static_cast<std::size_t>(part)).cursor != cursor)
        return false;
    for (const auto& it : b.items)
      if (it.from_lane() && q.lane.count(it.lane_id) == 0)
        return false;

    const auto now = clock_.now();
    std::map<int, std::uint64_t> moves;  // partition -> the cursor after its settled items
    std::set<int> cut;                   // partitions whose items stop at one handed back
    for (std::size_t i = 0; i < b.items.size(); ++i) {
      const auto& it = b.items[i];
      const auto& v = verdicts[i];
      if (it.from_lane()) {
        auto& e = q.lane.at(it.lane_id);
        switch (v.what) {
          case verdict::kind::handed_back:
            e.attempts = std::max(0, e.attempts - 1);  // unstarted: the attempt was not spent
            break;
          case verdict::kind::commit:
            ++q.processed;
            q.lane.erase(it.lane_id);
            break;
          case verdict::kind::retry:
            ++q.retried;
            e.attempts = v.attempts;
            e.run_at = now + v.delay;
            e.last_error = v.error;
            break;
          case verdict::kind::dead:
            dead_letter_locked(queue, q, e.message, v.attempts, v.reason, v.error, e.first_seen, now);
            q.lane.erase(it.lane_id);
            break;
        }
        continue;
      }
      if (cut.count(it.part) != 0)
        continue;
      if (v.what == verdict::kind::handed_back) {
        cut.insert(it.part);
        continue;
      }
      auto& p = q.parts.at(static_cast<std::size_t>(it.part));
      const auto& e = p.log.at(static_cast<std::size_t>(it.offset - p.base));
      switch (v.what) {
        case verdict::kind::commit:
          ++q.processed;
          break;
        case verdict::kind::retry: {
          ++q.retried;
          lane_entry l;
          l.part = it.part;
          l.message = e.message;
          l.seq = e.seq;
          l.attempts = v.attempts;
          l.run_at = now + v.delay;
          l.first_seen = e.enqueued_at;
          l.last_error = v.error;
          lane_insert_locked(q, std::move(l));
          break;
        }
        case verdict::kind::dead:
          dead_letter_locked(queue, q, e.message, v.attempts, v.reason, v.error, e.enqueued_at, now);
          break;
        case verdict::kind::handed_back:
          break;
      }
      moves[it.part] = it.offset + 1;
    }
    for (const auto& [part, cursor] : b.read_after) {
      auto& p = q.parts.at(static_cast<std::size_t>(part));
      if (auto m = moves.find(part); m != moves.end())
        advance_locked(p, m->second);
      else
        p.tries = std::max(0, p.tries - 1);  // the head was handed back unstarted: its charge is refunded
    }
    // Handed-back items are only ever the tail of the batch (a stop), so every publish here belongs to a
    // committed handler whose item was applied above.
    for (auto& m : publishes) {
      queues.insert(m.queue);
      append_locked(std::move(m), now);
    }
  }
  wake(queues);
  return true;
}

// ---- admin ----

std::vector<queue_stats> broker::stats() {
  std::lock_guard lock(mutex_);
  const auto now = clock_.now();
  std::map<std::string, queue_stats> all;
  auto at = [&](const std::string& name) -> queue_stats& {
    auto& s = all[name];
    s.queue = name;
    return s;
  };
  for (const auto& [name, q] : queues_) {
    auto& s = at(name);
    std::optional<timestamp> oldest;
    for (const auto& p : q.parts) {
      s.ready += p.end() - p.cursor;
      if (p.cursor < p.end()) {
        const auto t = p.log[static_cast<std::size_t>(p.cursor - p.base)].enqueued_at;
        oldest = oldest ? std::min(*oldest, t) : t;
      }
    }
    for (const auto& [id, e] : q.lane) {
      if (e.run_at > now) {
        ++s.delayed;
        continue;
      }
      ++s.ready;
      oldest = oldest ? std::min(*oldest, e.run_at) : e.run_at;
    }
    if (oldest)
      s.oldest_ready_age = std::chrono::duration_cast<std::chrono::milliseconds>(now - *oldest);
    s.processed = q.processed;
    s.retried = q.retried;
    s.dead_lettered = q.dead_lettered;
    s.paused = q.paused;
  }
  for (const auto& [id, d] : dead_)
    ++at(d.queue).dead;
  std::vector<queue_stats> out;
  for (auto& [name, s] : all)
    out.push_back(std::move(s));
  return out;
}

std::vector<waiting_message> broker::peek(std::string_view queue, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<std::pair<std::uint64_t, waiting_message>> all;  // (seq, message)
  auto it = queues_.find(queue);
  if (it == queues_.end())
    return {};
  const auto& q = it->second;
  for (const auto& p : q.parts)
    for (std::uint64_t pos = p.cursor; pos < p.end() && pos - p.cursor < limit; ++pos) {
      const auto& e = p.log[static_cast<std::size_t>(pos - p.base)];
      all.emplace_back(
          e.seq, waiting_message{std::string(queue), e.message, e.enqueued_at, e.enqueued_at, false, ""});
    }
  for (const auto& [id, e] : q.lane) {
    waiting_message w{std::string(queue), e.message, e.first_seen, e.run_at, true, e.last_error};
    w.message.attempt = e.attempts;
    all.emplace_back(e.seq, std::move(w));
  }
  // In the order they were enqueued (then log before lane, then commit order), as the log backend lists them.
  std::sort(all.begin(), all.end(), [](const auto& a, const auto& b) {
    return std::tie(a.second.enqueued_at, a.second.delayed, a.first) <
           std::tie(b.second.enqueued_at, b.second.delayed, b.first);
  });
  std::vector<waiting_message> out;
  for (auto& [seq, w] : all) {
    if (out.size() == limit)
      break;
    out.push_back(std::move(w));
  }
  return out;
}

std::vector<dead_letter> broker::list_dead_letters(std::optional<std::string> queue, std::size_t limit) {
  std::lock_guard lock(mutex_);
  std::vector<dead_letter> out;
  for (const auto& [id, d] : dead_)
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
  auto it = dead_.find(message_id);
  if (it == dead_.end())
    return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
  return it->second;
}

result<void> broker::redrive(std::string_view message_id) {
  std::string queue;
  {
    std::lock_guard lock(mutex_);
    auto it = dead_.find(message_id);
    if (it == dead_.end())
      return bkr::error{errc::not_found, "no dead letter " + std::string(message_id)};
    queue = it->second.queue;
    auto& q = queue_locked(queue);
    lane_entry e;
    e.part = partition_of(q, it->second.message.key);
    e.message = std::move(it->second.message);
    e.message.attempt = 0;
    e.seq = ++seq_;
    e.run_at = clock_.now();
    e.first_seen = it->second.first_seen;
    e.last_error = std::move(it->second.last_error);
    lane_insert_locked(q, std::move(e));
    dead_.erase(it);
  }
  wake({queue});
  return {};
}

std::size_t broker::redrive_all(std::string_view queue) {
  std::vector<std::string> ids;
  {
    std::lock_guard lock(mutex_);
    for (const auto& [id, d] : dead_)
      if (d.queue == queue)
        ids.push_back(id);
  }
  std::size_t n = 0;
  for (const auto& id : ids)
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
  auto it = queues_.find(queue);
  if (it == queues_.end())
    return 0;
  auto& q = it->second;
  std::size_t n = q.lane.size();
  for (auto& p : q.parts) {
    n += p.end() - p.cursor;
    advance_locked(p, p.end());
    p.tries = 0;
  }
  q.lane.clear();
  return n;
}

void broker::pause(std::string_view queue) {
  std::lock_guard lock(mutex_);
  queue_locked(queue).paused = true;
}

void broker::resume(std::string_view queue) {
  {
    std::lock_guard lock(mutex_);
    queue_locked(queue).paused = false;
  }
  wake({std::string(queue)});
}

// ---- the consumer ----

consumer::consumer(broker& b, consumer_options options, handler& h)
    : consumer_loop(std::move(options), h), broker_(b) {
  if (!is_valid_queue_name(options_.queue))
    throw std::invalid_argument("invalid queue name: " + options_.queue);
  broker_.subscribe(options_.queue, this);
}

consumer::~consumer() {
  broker_.unsubscribe(options_.queue, this);
  shutdown_now();
  broker_.leave(options_.queue, member_.exchange(0));
}

void consumer::start() {
  if (member_ == 0 && !abandoned_)
    member_ = broker_.join(options_.queue);
  consumer_loop::start();
}

void consumer::stop(std::chrono::milliseconds deadline) {
  consumer_loop::stop(deadline);
  // The loop has ended, so no batch is in hand: what it did not settle stays after the cursors.
  broker_.leave(options_.queue, member_.exchange(0));
}

void consumer::abandon() {
  abandoned_ = true;
  broker_.leave(options_.queue, member_.exchange(0));
}

std::vector<int> consumer::owned_partitions() {
  return broker_.owned(options_.queue, member_.load());
}

broker::verdict consumer::verdict_of(const broker::item& it, const handler_result& r) {
  using kind = broker::verdict::kind;
  const int a = it.d.message.attempt;
  switch (r.kind) {
    case outcome::commit:
      return {kind::commit};
    case outcome::retry: {
      if (!r.attempt_spent)  // postponed: this attempt is not counted
        return {kind::retry, r.delay.value_or(std::chrono::milliseconds{0}), std::max(0, a - 1), "",
                r.reason};
      auto d = decide_retry(options_.retry, a, r.delay, random_unit());
      if (d.dead_letter)
        return {kind::dead, {}, a, "attempts exhausted (" + std::to_string(a) + ")", r.reason};
      return {kind::retry, d.delay, a, "", r.reason};
    }
    case outcome::reject:
      return {kind::dead, {}, a, r.reason, r.reason};
  }
  return {};
}

std::vector<broker::verdict> consumer::handle(const broker::batch& b,
                                              std::vector<outgoing_message>& publishes,
                                              std::vector<std::function<void()>>& hooks) {
  std::vector<delivery> deliveries;
  deliveries.reserve(b.items.size());
  for (const auto& it : b.items)
    deliveries.push_back(it.d);
  try {
    handler_.prepare(deliveries);
  } catch (const std::exception& e) {
    log_warn("prepare failed", {{"error", e.what()}});
  }
  std::vector<broker::verdict> verdicts(b.items.size());  // handed back unless handled
  if (stopping())
    return verdicts;
  {
    // The whole batch at once, when the handler offers it; its publishes and hooks are kept as a whole.
    memory_context ctx(deadline_flag());
    std::optional<std::vector<handler_result>> results;
    try {
      results = handler_.handle_batch(deliveries, ctx);
      if (results && results->size() != deliveries.size())
        throw std::logic_error("handle_batch returned " + std::to_string(results->size()) + " verdicts for " +
                               std::to_string(deliveries.size()) + " messages");
    } catch (const std::exception& e) {
      log_warn("handling the batch as a whole failed; handling it message by message",
               {{"error", e.what()}, {"messages", deliveries.size()}});
      results.reset();
    }
    if (results) {
      for (std::size_t i = 0; i < b.items.size(); ++i)
        verdicts[i] = verdict_of(b.items[i], (*results)[i]);
      publishes = std::move(ctx.publishes);
      hooks = std::move(ctx.hooks);
      return verdicts;
    }
  }
  for (std::size_t i = 0; i < b.items.size(); ++i) {
    if (stopping())  // asked to stop: what has not started stays after the cursor, unspent
      break;
    memory_context ctx(deadline_flag());
    handler_result r;
    try {
      r = handler_.handle(b.items[i].d, ctx);
    } catch (...) {
      r = classify(std::current_exception());
    }
    if (r.kind == outcome::commit) {
      for (auto& m : ctx.publishes)
        publishes.push_back(std::move(m));
      for (auto& h : ctx.hooks)
        hooks.push_back(std::move(h));
    }
    verdicts[i] = verdict_of(b.items[i], r);
  }
  return verdicts;
}

consumer_loop::batch_report consumer::run_batch() {
  batch_report report;
  const auto member = member_.load();
  if (abandoned_ || member == 0)
    return report;
  note_claim();
  auto b = broker_.read(options_.queue, member, options_.batch_size, options_.retry.max_attempts);
  if (b.buried > 0) {
    dead_lettered_ += b.buried;
    log_error("message dead-lettered: its consumer kept dying on it", {{"count", b.buried}});
  }
  report.claimed = b.items.size();
  if (b.items.empty()) {
    report.next_due_in = b.next_due_in;
    return report;
  }
  ++batches_;
  std::vector<outgoing_message> publishes;
  std::vector<std::function<void()>> hooks;
  auto verdicts = handle(b, publishes, hooks);
  if (!broker_.settle(options_.queue, member, b, verdicts, std::move(publishes))) {
    lease_lost_ += b.items.size();
    log_warn("partition taken over before settlement; results discarded", {{"count", b.items.size()}});
    return report;
  }
  for (const auto& v : verdicts) {
    processed_ += v.what == broker::verdict::kind::commit ? 1 : 0;
    retried_ += v.what == broker::verdict::kind::retry ? 1 : 0;
    dead_lettered_ += v.what == broker::verdict::kind::dead ? 1 : 0;
  }
  for (auto& h : hooks) {
    try {
      h();
    } catch (const std::exception& e) {
      log_warn("after-commit hook failed", {{"error", e.what()}});
    }
  }
  return report;
}

}  // namespace bkr::messaging::memory
