// Runs a stage as a messaging handler: the batch's transaction for its writes, the outcome mapping, metrics
// and log lines.
#pragma once

#include "bkr/app/stage.hpp"
#include "bkr/common/log.hpp"
#include "bkr/common/metrics.hpp"
#include "bkr/messaging/handler.hpp"

#include <optional>
#include <string>
#include <vector>

namespace bkr::app {

/// Metrics of one stage, resolved once: `bkr_stage_messages_total{queue,result}` with result commit /
/// retry / reject (processed / retried / dead-lettered at once), `bkr_stage_outcomes_total{queue,outcome}`
/// for commits (applied / already_done / lost_race) and `bkr_stage_duration_seconds{queue}` (handle()
/// time, transaction work included). Verdicts are counted when the handler gives them; a batch that is
/// rolled back and replayed counts its messages again. Lock-free updates; the registry must outlive it.
class stage_metrics {
 public:
  stage_metrics(metrics::registry& registry, const std::string& queue);

  void record(const messaging::handler_result& verdict, std::optional<stage_outcome> outcome, double seconds);

 private:
  metrics::counter& commit_;
  metrics::counter& retry_;
  metrics::counter& reject_;
  metrics::counter& applied_;
  metrics::counter& already_done_;
  metrics::counter& lost_race_;
  metrics::histogram& duration_;
};

/// A messaging::handler over one stage. Its writes join the consumer's settlement transaction
/// (`ctx.native<storage::unit_of_work>()`, Postgres backend), so the status change, the next message and
/// the retirement of the consumed message commit together. Thread-safe as far as the stage is: one instance
/// may serve every consumer of a process. The stage, metrics and logger must outlive it.
class stage_handler final : public messaging::handler {
 public:
  stage_handler(stage& s, std::optional<bkr::logger> log = std::nullopt, stage_metrics* metrics = nullptr)
      : stage_(s), log_(std::move(log)), metrics_(metrics) {}

  void prepare(std::span<const messaging::delivery> batch) override;
  messaging::handler_result handle(const messaging::delivery& d, messaging::handler_context& ctx) override;
  /// The stage's handle_batch() when it has one (set-based statements, one transaction for the batch);
  /// each message's result is mapped, counted and logged as handle() does (duration: the batch's time
  /// shared evenly).
  std::optional<std::vector<messaging::handler_result>> handle_batch(
      std::span<const messaging::delivery> batch, messaging::handler_context& ctx) override;

 private:
  void report(const messaging::delivery& d, const messaging::handler_result& verdict,
              std::optional<stage_outcome> outcome, double seconds);

  stage& stage_;
  std::optional<bkr::logger> log_;
  stage_metrics* metrics_;
};

}  // namespace bkr::app
