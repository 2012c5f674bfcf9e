// The stage as a messaging handler: transaction, outcome mapping, metrics and logs per message.
#include "bkr/app/stage_handler.hpp"

#include "bkr/app/outcome_mapping.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <chrono>
#include <stdexcept>
#include <string>
#include <vector>

namespace bkr::app {

namespace {

metrics::counter_family& messages_family(metrics::registry& r) {
  return r.add_counter(
      "bkr_stage_messages_total",
      "Messages handled by this process, by verdict: commit, retry, reject (dead-lettered now)",
      {"queue", "result"});
}

metrics::counter_family& outcomes_family(metrics::registry& r) {
  return r.add_counter("bkr_stage_outcomes_total",
                       "Committed messages by what the stage found: applied, already_done, lost_race",
                       {"queue", "outcome"});
}

}  // namespace

stage_metrics::stage_metrics(metrics::registry& registry, const std::string& queue)
    : commit_(messages_family(registry).with({queue, "commit"})),
      retry_(messages_family(registry).with({queue, "retry"})),
      reject_(messages_family(registry).with({queue, "reject"})),
      applied_(outcomes_family(registry).with({queue, "applied"})),
      already_done_(outcomes_family(registry).with({queue, "already_done"})),
      lost_race_(outcomes_family(registry).with({queue, "lost_race"})),
      duration_(registry
                    .add_histogram("bkr_stage_duration_seconds", "Time to handle one message", {"queue"},
                                   metrics::default_latency_buckets())
                    .with({queue})) {}

void stage_metrics::record(const messaging::handler_result& verdict, std::optional<stage_outcome> outcome,
                           double seconds) {
  duration_.observe(seconds);
  switch (verdict.kind) {
    case messaging::outcome::commit:
      commit_.inc();
      break;
    case messaging::outcome::retry:
      retry_.inc();
      break;
    case messaging::outcome::reject:
      reject_.inc();
      break;
  }
  if (!outcome)
    return;
  switch (*outcome) {
    case stage_outcome::applied:
      applied_.inc();
      break;
    case stage_outcome::already_done:
      already_done_.inc();
      break;
    case stage_outcome::lost_race:
      lost_race_.inc();
      break;
  }
}

void stage_handler::prepare(std::span<const messaging::delivery> batch) {
  std::vector<messaging::envelope> messages;
  messages.reserve(batch.size());
  for (const auto& d : batch)
    messages.push_back(d.message);
  stage_.prepare(messages);
}

messaging::handler_result stage_handler::handle(const messaging::delivery& d,
                                                messaging::handler_context& ctx) {
  const auto started = std::chrono::steady_clock::now();
  std::optional<stage_outcome> outcome;
  auto verdict = run_and_map([&]() -> result<stage_outcome> {
    auto r = stage_.handle(ctx.native<storage::unit_of_work>(), ctx, d.message);
    if (r)
      outcome = *r;
    return r;
  });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  report(d, verdict, outcome, seconds);
  return verdict;
}

std::optional<std::vector<messaging::handler_result>> stage_handler::handle_batch(
    std::span<const messaging::delivery> batch, messaging::handler_context& ctx) {
  const auto started = std::chrono::steady_clock::now();
  std::vector<messaging::envelope> messages;
  messages.reserve(batch.size());
  for (const auto& d : batch)
    messages.push_back(d.message);
  // Exceptions go to the consumer: it undoes the batch and runs it message by message, which maps them.
  auto results = stage_.handle_batch(ctx.native<storage::unit_of_work>(), ctx, messages);
  if (!results)
    return std::nullopt;
  if (results->size() != batch.size())
    throw std::logic_error("the stage returned " + std::to_string(results->size()) + " results for " +
                           std::to_string(batch.size()) + " messages");
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() /
                         static_cast<double>(batch.size());
  std::vector<messaging::handler_result> verdicts;
  verdicts.reserve(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    const auto& r = (*results)[i];
    auto verdict = to_handler_result(r);
    report(batch[i], verdict, r ? std::optional<stage_outcome>(*r) : std::nullopt, seconds);
    verdicts.push_back(std::move(verdict));
  }
  return verdicts;
}

void stage_handler::report(const messaging::delivery& d, const messaging::handler_result& verdict,
                           std::optional<stage_outcome> outcome, double seconds) {
  if (metrics_)
    metrics_->record(verdict, outcome, seconds);
  if (log_) {
    // Built only for a line that is written: the usual commit logs nothing at info level.
    const auto fields = [&] {
      return nlohmann::json{{"queue", d.queue},
                            {"message_id", d.message.message_id},
                            {"backupRequestId", d.message.key},
                            {"trace_id", d.message.trace_id},
                            {"attempt", d.message.attempt}};
    };
    switch (verdict.kind) {
      case messaging::outcome::commit:
        if (log_->enabled(spdlog::level::debug)) {
          auto f = fields();
          f["outcome"] = to_string(outcome.value_or(stage_outcome::applied));
          log_->debug("message handled", f);
        }
        break;
      case messaging::outcome::retry: {
        auto f = fields();
        f["reason"] = verdict.reason;
        log_->warn("message will be retried", f);
        break;
      }
      case messaging::outcome::reject: {
        auto f = fields();
        f["reason"] = verdict.reason;
        log_->error("message rejected to the dead letters", f);
        break;
      }
    }
  }
}

}  // namespace bkr::app
