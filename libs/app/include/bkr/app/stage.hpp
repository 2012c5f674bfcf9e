// What every pipeline stage is to the worker that runs it: an outcome per message, the stage interface, and
// how a stage addresses the message it produces.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/common/error.hpp"
#include "bkr/domain/messages.hpp"
#include "bkr/messaging/envelope.hpp"
#include "bkr/messaging/handler.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::app {

/// How a stage dealt with one message that it acknowledges.
enum class stage_outcome {
  applied,       ///< the request moved (and the next message, if any, was published)
  already_done,  ///< the request was already at or beyond this stage: a redelivery, nothing written
  lost_race,     ///< the compare-and-set found another status: another worker did it, nothing written
};
std::string_view to_string(stage_outcome o);

/// One pipeline stage: consumes the messages of one queue. Expected failures come back as errors (domain or
/// app `errc`); infrastructure failures are thrown. The worker maps both to commit / retry / reject in one
/// place (outcome_mapping.hpp). Implementations are stateless or internally synchronized: one instance
/// serves every consumer thread of a process.
class stage {
 public:
  virtual ~stage() = default;

  /// Called once per claimed batch before its transaction opens: the place where adapters of outside
  /// services make their calls (concurrently, with timeouts), so that no transaction waits on the network.
  /// The local adapters need nothing here. Must not throw for one bad message.
  virtual void prepare(std::span<const messaging::envelope> batch) { (void)batch; }

  /// Handles one message inside the batch's transaction: reads and writes through `uow`, publishes the next
  /// message through `out`; both commit together with the retirement of `message`, or not at all.
  virtual result<stage_outcome> handle(storage::unit_of_work& uow, messaging::publisher& out,
                                       const messaging::envelope& message) = 0;

  /// Optional, for throughput: handle() for a whole batch with set-based statements in `uow`. Returns one
  /// result per message, in order, or nullopt to decline before writing anything (the worker then calls
  /// handle() for each). The writes of the batch are kept as a whole: a message whose result is an error
  /// must have written and published nothing. Throwing undoes the batch; the worker then handles it
  /// message by message. The default declines.
  virtual std::optional<std::vector<result<stage_outcome>>> handle_batch(
      storage::unit_of_work& uow, messaging::publisher& out, std::span<const messaging::envelope> batch) {
    (void)uow;
    (void)out;
    (void)batch;
    return std::nullopt;
  }
};

/// The message a stage publishes after handling `cause`: a new envelope of `contract`'s type and schema
/// version keyed by the backupRequestId, carrying the cause's trace id, stamped with `producer` (the
/// executable's name) and the clock's time, with the pipeline's de-duplication key (type:backupRequestId).
messaging::outgoing_message next_message(const domain::message_contract& contract, std::string queue,
                                         const std::string& backup_request_id, nlohmann::json payload,
                                         const messaging::envelope& cause, const std::string& producer,
                                         const bkr::clock& clock);

/// unexpected_message unless `message` has `contract`'s type and a schema version we read (1..current).
result<void> check_contract(const messaging::envelope& message, const domain::message_contract& contract);

}  // namespace bkr::app
