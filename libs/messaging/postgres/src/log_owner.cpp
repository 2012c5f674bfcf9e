// Partition ownership through session advisory locks: (hashtext(queue), part) per owned partition, and a
// shared (hashtext(queue), 65535) per live consumer so that each can compute its fair share.
#include "log_owner.hpp"

#include "log_sql.hpp"

#include <algorithm>

namespace bkr::messaging::postgres {
namespace {

constexpr int member_key = 65535;

// Partition count, and for a queue with more than one the live consumers of the queue (holders of the shared
// member lock): reading pg_locks copies the lock table, so a queue with one partition skips it.
constexpr const char* census_sql = R"sql(
WITH p AS (SELECT coalesce((SELECT partitions FROM mq.log_queues WHERE queue = $1), 1) AS n)
SELECT p.n, CASE WHEN p.n = 1 THEN 1 ELSE
       (SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 2
          AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND objid = 65535 AND classid = ((hashtext($1)::bigint + 4294967296) % 4294967296)::oid) END
FROM p
)sql";

}  // namespace

log_consumer::owner::owner(std::string conninfo, std::string queue, std::chrono::milliseconds interval,
                           std::chrono::milliseconds session_timeout, consumer* wake,
                           std::optional<bkr::logger> log)
    : conninfo_(std::move(conninfo)),
      queue_(std::move(queue)),
      interval_(interval),
      session_timeout_(session_timeout),
      wake_(wake),
      log_(std::move(log)) {}

log_consumer::owner::~owner() {
  stop();
}

void log_consumer::owner::start() {
  if (thread_.joinable())
    return;
  {
    std::lock_guard lock(mutex_);
    stop_ = false;
  }
  thread_ = std::thread([this] { run(); });
}

void log_consumer::owner::stop() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

std::vector<int> log_consumer::owner::owned() const {
  std::lock_guard lock(mutex_);
  return {owned_.begin(), owned_.end()};
}

std::set<int> log_consumer::owner::fresh() const {
  std::lock_guard lock(mutex_);
  return fresh_;
}

void log_consumer::owner::charged(int part) {
  std::lock_guard lock(mutex_);
  fresh_.erase(part);
}

void log_consumer::owner::drop_session(const std::string& why) {
  {
    std::lock_guard lock(mutex_);
    satisfied_ = false;
    owned_.clear();
    fresh_.clear();
  }
  if (conn_ && log_)
    log_->warn("partition ownership session lost; partitions released", {{"error", why}});
  conn_.reset();
}

void log_consumer::owner::run() {
  for (;;) {
    try {
      tick();
    } catch (const std::exception& e) {
      drop_session(e.what());
    }
    std::unique_lock lock(mutex_);
    // An owner of its whole share only keeps its session alive (well within idle_session_timeout) and looks
    // for changes (partitions added, consumers joining) less often; a consumer short of its share looks
    // every interval, so a dead owner's partition is taken within about one.
    const auto wait =
        satisfied_ ? std::max(interval_, std::min(session_timeout_ / 4, std::chrono::milliseconds{1000}))
                   : interval_;
    if (cv_.wait_for(lock, wait, [&] { return stop_; }))
      break;
  }
  // Closing the session frees every advisory lock at once.
  conn_.reset();
  std::lock_guard lock(mutex_);
  owned_.clear();
  fresh_.clear();
}

void log_consumer::owner::tick() {
  if (!conn_) {
    conn_ = std::make_unique<pqxx::connection>(conninfo_);
    pqxx::nontransaction tx(*conn_);
    // A stopped (SIGSTOP) or hung process stops ticking: the server ends its idle session after this long,
    // which frees its partitions for the other consumers.
    tx.exec_params(
        "SELECT set_config('idle_session_timeout', $1, false), "
        "set_config('application_name', 'bkr-mq-owner', false), "
        "pg_advisory_lock_shared(hashtext($2), $3)",
        std::to_string(std::max<long long>(1000, session_timeout_.count())), queue_, member_key);
  }
  pqxx::nontransaction tx(*conn_);
  auto census = tx.exec_params(census_sql, queue_);
  const int partitions = census[0][0].as<int>();
  const long long members = std::max<long long>(1, census[0][1].as<long long>());
  const auto share = static_cast<std::size_t>((partitions + members - 1) / members);
  std::set<int> owned = [&] {
    std::lock_guard lock(mutex_);
    return owned_;
  }();
  std::vector<int> gained, released;
  if (owned.size() < share) {
    std::vector<long long> candidates;
    for (int p = 0; p < partitions; ++p)
      if (owned.count(p) == 0)
        candidates.push_back(p);
    for (const auto& row :
         tx.exec_params("SELECT p FROM unnest($2::int[]) AS p WHERE pg_try_advisory_lock(hashtext($1), p)",
                        queue_, log_sql::int_array(candidates))) {
      int p = row[0].as<int>();
      if (owned.size() < share) {
        owned.insert(p);
        gained.push_back(p);
      } else {
        released.push_back(p);
      }
    }
  }
  while (owned.size() > share) {
    released.push_back(*owned.rbegin());
    owned.erase(std::prev(owned.end()));
  }
  {
    // Released partitions stop being read at once; their in-flight batches are fenced by the cursors.
    std::lock_guard lock(mutex_);
    satisfied_ = owned.size() >= share;
    for (int p : released) {
      owned_.erase(p);
      fresh_.erase(p);
    }
  }
  if (!released.empty()) {
    std::vector<long long> r(released.begin(), released.end());
    tx.exec_params("SELECT pg_advisory_unlock(hashtext($1), p) FROM unnest($2::int[]) AS p", queue_,
                   log_sql::int_array(r));
  }
  if (gained.empty())
    return;
  std::vector<long long> g(gained.begin(), gained.end());
  tx.exec_params(
      "INSERT INTO mq.cursors (queue, part) SELECT $1, p FROM unnest($2::smallint[]) AS p ON CONFLICT DO "
      "NOTHING",
      queue_, log_sql::int_array(g));
  {
    std::lock_guard lock(mutex_);
    for (int p : gained) {
      owned_.insert(p);
      fresh_.insert(p);
    }
  }
  if (log_)
    log_->info("partitions taken", {{"partitions", gained}, {"share", share}, {"consumers", members}});
  if (wake_)
    wake_->wake();
}

}  // namespace bkr::messaging::postgres
