// SendToInterface: Allowed -> Sent and the hand-over of the store request, in one transaction.
#include "bkr/app/send_to_interface.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/status_machine.hpp"

#include <stdexcept>

namespace bkr::app {

void send_to_interface::prepare(std::span<const messaging::envelope> batch) {
  if (!interface_.wants_prepare())
    return;
  const auto ids = detail::payload_request_ids(batch);
  std::vector<domain::store_request> requests;
  for (const auto& r : detail::read_requests(pool_, requests_, ids)) {
    if (r.status_type_code != domain::request_status::allowed)
      continue;
    if (auto s = domain::make_store_request(r))
      requests.push_back(std::move(*s));
  }
  interface_.prepare(requests);
}

result<stage_outcome> send_to_interface::handle(storage::unit_of_work& uow, messaging::publisher& out,
                                                const messaging::envelope& message) {
  if (auto ok = check_contract(message, domain::allowed_message); !ok)
    return ok.error();
  auto payload = domain::parse_allowed_payload(message.payload);
  if (!payload)
    return payload.error();
  const auto& id = payload->backup_request_id;
  auto request = requests_.find(uow, id);
  if (!request)
    return make_error(errc::unknown_request, "unknown backupRequestId " + id);
  const domain::transition_context context{
      clock_.now(), std::string(to_string(domain::pipeline_stage::send_to_interface)), message.message_id};
  auto t = domain::mark_sent(*request, context);
  if (!t)
    return t.error();
  auto* move = std::get_if<domain::applied>(&*t);
  if (!move)
    return stage_outcome::already_done;
  auto store = domain::make_store_request(*request);
  if (!store)
    return store.error();
  if (!requests_.update_status(uow, move->request, move->expected_status, move->history))
    return stage_outcome::lost_race;
  // After the compare-and-set: only the winner hands over. A failed hand-over undoes the Sent status
  // (the consumer rolls back this message's writes when it retries or rejects).
  if (auto handed = interface_.hand_over(out, *store, message); !handed)
    return handed.error();
  return stage_outcome::applied;
}

std::optional<std::vector<result<stage_outcome>>> send_to_interface::handle_batch(
    storage::unit_of_work& uow, messaging::publisher& out, std::span<const messaging::envelope> batch) {
  // An interface that calls out (prepare()) may refuse a hand-over after the compare-and-set, which must
  // then be undone for that message alone: message by message.
  if (interface_.wants_prepare())
    return std::nullopt;
  detail::batch_slots slots(batch.size());
  const auto payloads =
      detail::parse_batch(batch, domain::allowed_message, domain::parse_allowed_payload, slots);
  const auto distinct = detail::distinct_request_ids(payloads);
  if (!distinct)
    return std::nullopt;
  const auto& ids = *distinct;
  const auto stored = detail::requests_by_id(requests_, uow, ids);

  detail::pending_changes pending;
  std::vector<domain::store_request> stores;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (slots[i])
      continue;
    auto it = stored.find(ids[i]);
    if (it == stored.end()) {
      slots[i] = make_error(errc::unknown_request, "unknown backupRequestId " + ids[i]);
      continue;
    }
    auto store = domain::make_store_request(it->second);
    const domain::transition_context context{
        clock_.now(), std::string(to_string(domain::pipeline_stage::send_to_interface)), batch[i].message_id};
    auto t = domain::mark_sent(it->second, context);
    if (t && std::holds_alternative<domain::applied>(*t) && !store) {
      slots[i] = store.error();
      continue;
    }
    if (pending.add(i, std::move(t), slots))
      stores.push_back(std::move(*store));
  }
  const auto won = requests_.update_status_many(uow, pending.changes);
  for (std::size_t k = 0; k < pending.at.size(); ++k) {
    const auto i = pending.at[k];
    if (won.count(ids[i]) == 0) {
      slots[i] = stage_outcome::lost_race;
      continue;
    }
    // A refusal here cannot be undone for this message alone: the worker runs the batch message by message.
    if (auto handed = interface_.hand_over(out, stores[k], batch[i]); !handed)
      throw std::runtime_error("hand-over of " + ids[i] + " refused: " + handed.error().message);
    slots[i] = stage_outcome::applied;
  }
  return detail::take_results(slots);
}

}  // namespace bkr::app
