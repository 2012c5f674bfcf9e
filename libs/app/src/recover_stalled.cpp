// Stalled-request recovery: the pacing rule, the leader-only run and the periodic sweep.
#include "bkr/app/recover_stalled.hpp"

#include "bkr/app/stage.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/postgres/backend.hpp"

#include <algorithm>

namespace bkr::app {

std::vector<stalled_request> plan_recovery(std::vector<stalled_request> candidates, std::size_t limit) {
  std::erase_if(candidates, [](const stalled_request& c) { return c.has_pending_message; });
  std::stable_sort(candidates.begin(), candidates.end(),
                   [](const stalled_request& a, const stalled_request& b) { return a.since < b.since; });
  if (candidates.size() > limit)
    candidates.resize(limit);
  return candidates;
}

nlohmann::json recovery_report::to_json() const {
  return {{"leader", leader},
          {"runId", run_id},
          {"received", received},
          {"allowed", allowed},
          {"pending", pending}};
}

std::set<std::string> postgres_pending_messages::pending(storage::unit_of_work& uow, std::string_view queue,
                                                         std::span<const std::string> keys) {
  return messaging::postgres::pending_keys(uow, queue, keys);
}

namespace {

/// Reads the stalled requests of one status with their pending flags. Reads a few times the budget, so
/// that requests still waiting on a message (e.g. in retry backoff) do not hide older ones that have none.
std::vector<stalled_request> stalled_of(storage::unit_of_work& uow,
                                        const storage::backup_request_repository& requests,
                                        pending_messages& probe, domain::request_status status,
                                        std::string_view queue, timestamp cutoff, std::size_t limit) {
  const auto rows = requests.find_stalled(uow, status, cutoff, std::max<std::size_t>(limit, 1) * 4);
  std::vector<std::string> ids;
  ids.reserve(rows.size());
  for (const auto& r : rows)
    ids.push_back(r.backup_request_id);
  const auto pending = probe.pending(uow, queue, ids);
  std::vector<stalled_request> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    const auto since =
        status == domain::request_status::received ? r.received_timestamp : r.checked_timestamp;
    out.push_back(
        {r.backup_request_id, status, since.value_or(timestamp{}), pending.count(r.backup_request_id) > 0});
  }
  return out;
}

}  // namespace

recovery_report recover_stalled::run_once(const recovery_options& options) {
  recovery_report report;
  report.run_id = new_uuid_v7();
  storage::unit_of_work uow(pool_);
  static const std::string lock_name = "bkr_app_recovery_lock";
  const auto locked = uow.tx().exec_prepared(uow.prepare(lock_name, "SELECT pg_try_advisory_xact_lock($1)"),
                                             static_cast<long long>(recovery_lock_key));
  if (!locked[0][0].as<bool>())
    return report;  // another process is the leader of this run; the rollback releases nothing
  report.leader = true;

  const auto cutoff = clock_.now() - options.older_than;
  const auto received_queue = std::string(domain::received_message.queue);
  const auto allowed_queue = std::string(domain::allowed_message.queue);
  auto candidates = stalled_of(uow, requests_, pending_, domain::request_status::received, received_queue,
                               cutoff, options.limit);
  auto allowed = stalled_of(uow, requests_, pending_, domain::request_status::allowed, allowed_queue, cutoff,
                            options.limit);
  candidates.insert(candidates.end(), allowed.begin(), allowed.end());
  report.pending = static_cast<std::size_t>(std::count_if(
      candidates.begin(), candidates.end(), [](const auto& c) { return c.has_pending_message; }));

  messaging::envelope cause;
  cause.trace_id = "recovery-" + report.run_id;
  std::vector<messaging::outgoing_message> messages;
  for (const auto& c : plan_recovery(std::move(candidates), options.limit)) {
    const bool is_received = c.status == domain::request_status::received;
    const nlohmann::json payload = is_received ? nlohmann::json(domain::received_payload{c.backup_request_id})
                                               : nlohmann::json(domain::allowed_payload{c.backup_request_id});
    auto m = next_message(is_received ? domain::received_message : domain::allowed_message,
                          is_received ? received_queue : allowed_queue, c.backup_request_id, payload, cause,
                          producer_, clock_);
    messages.push_back(std::move(m));
    ++(is_received ? report.received : report.allowed);
  }
  if (!messages.empty())
    messaging::postgres::make_publisher(uow)->publish_many(std::move(messages));
  uow.commit();
  return report;
}

recovery_report recover_stalled_requests(storage::connection_pool& pool, const recovery_options& options,
                                         std::string producer) {
  const storage::backup_request_repository requests;
  postgres_pending_messages probe;
  const bkr::system_clock clock;
  recover_stalled recovery(pool, requests, probe, clock, std::move(producer));
  return recovery.run_once(options);
}

recovery_sweeper::recovery_sweeper(recover_stalled& recovery, recovery_options options,
                                   std::chrono::milliseconds interval, std::optional<bkr::logger> log)
    : recovery_(recovery), options_(options), interval_(interval), log_(std::move(log)) {}

recovery_sweeper::~recovery_sweeper() {
  stop();
}

void recovery_sweeper::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable() || stopping_)
    return;
  thread_ = std::thread([this] { loop(); });
}

void recovery_sweeper::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable())
    thread_.join();
}

std::optional<recovery_report> recovery_sweeper::last_report() const {
  std::lock_guard lock(mutex_);
  return last_;
}

void recovery_sweeper::loop() {
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      if (cv_.wait_for(lock, interval_, [&] { return stopping_; }))
        return;
    }
    try {
      auto report = recovery_.run_once(options_);
      if (log_ && report.received + report.allowed > 0)
        log_->warn("stalled requests re-published", report.to_json());
      std::lock_guard lock(mutex_);
      last_ = std::move(report);
    } catch (const std::exception& e) {
      if (log_)
        log_->error("stalled-request recovery failed", {{"error", e.what()}});
    }
    ++runs_;
  }
}

}  // namespace bkr::app
