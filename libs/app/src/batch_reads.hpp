// Private helpers of the stages' batch paths: reads of a claimed batch outside its transaction (for adapters
// that call out in prepare()), result slots, and job lookups asked once per batch.
#pragma once

#include "bkr/app/backup_job_service.hpp"
#include "bkr/app/stage.hpp"
#include "bkr/domain/status_machine.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <map>
#include <optional>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

namespace bkr::app::detail {

/// The `backupRequestId` of each message's payload, skipping messages without a readable one (their
/// handle() reports the problem).
std::vector<std::string> payload_request_ids(std::span<const messaging::envelope> batch);

/// The stored requests among `ids`, read in one short read-only transaction. Infrastructure failures
/// throw (the caller logs them; handle() then finds no prefetched answer and retries).
std::vector<domain::backup_request> read_requests(storage::connection_pool& pool,
                                                  const storage::backup_request_repository& requests,
                                                  std::span<const std::string> ids);

/// The results of a batch while its messages are decided: one slot per message, empty until decided.
using batch_slots = std::vector<std::optional<result<stage_outcome>>>;

/// The decided results, in order. Every slot must be filled (std::logic_error otherwise).
std::vector<result<stage_outcome>> take_results(batch_slots& slots);

/// Whether a backup request id appears twice: such batches go message by message, in order.
bool has_duplicates(std::span<const std::string> ids);

/// Checks each message against `contract` and reads its payload with `parse` (a domain parser returning a
/// result); a message that fails gets its error in its slot and an empty entry here.
template <class Parse>
auto parse_batch(std::span<const messaging::envelope> batch, const domain::message_contract& contract,
                 Parse parse, batch_slots& slots) {
  using payload = typename std::invoke_result_t<Parse, const nlohmann::json&>::value_type;
  std::vector<std::optional<payload>> out(batch.size());
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (auto ok = check_contract(batch[i], contract); !ok) {
      slots[i] = ok.error();
      continue;
    }
    auto p = parse(batch[i].payload);
    if (!p) {
      slots[i] = p.error();
      continue;
    }
    out[i] = std::move(*p);
  }
  return out;
}

/// The non-empty ids among `ids`.
std::vector<std::string> present(std::span<const std::string> ids);

/// The backupRequestId of each parsed payload, in message order (empty where the message failed), or nullopt
/// when a request is named twice: such batches go message by message, in order.
template <class Payload>
std::optional<std::vector<std::string>> distinct_request_ids(
    const std::vector<std::optional<Payload>>& payloads) {
  std::vector<std::string> ids(payloads.size());
  for (std::size_t i = 0; i < payloads.size(); ++i)
    if (payloads[i])
      ids[i] = payloads[i]->backup_request_id;
  if (has_duplicates(present(ids)))
    return std::nullopt;
  return ids;
}

/// The compare-and-sets a batch will make, and the message each is for.
struct pending_changes {
  std::vector<storage::status_change> changes;
  std::vector<std::size_t> at;
  /// Files message `i`'s transition: its error or already_done goes into its slot, a move becomes a change
  /// here. Returns whether it became a change.
  bool add(std::size_t i, result<domain::transition> t, batch_slots& slots);
};

/// The stored requests among the non-empty `ids` by id, read in one statement (locked, in id order, with
/// `lock`).
std::map<std::string, domain::backup_request> requests_by_id(
    const storage::backup_request_repository& requests, storage::unit_of_work& uow,
    std::span<const std::string> ids, bool lock = false);

/// Job lookups of one batch, each job asked once (many requests of a batch share their job).
class job_lookups {
 public:
  job_lookups(backup_job_service& jobs, storage::unit_of_work& uow) : jobs_(jobs), uow_(uow) {}
  const job_lookup& find(const std::string& backup_job_id);

 private:
  backup_job_service& jobs_;
  storage::unit_of_work& uow_;
  std::map<std::string, job_lookup> found_;
};

}  // namespace bkr::app::detail
