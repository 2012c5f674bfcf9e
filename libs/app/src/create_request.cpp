// CreateRequest: Accepted -> Received, first history row and the received message in one transaction.
#include "bkr/app/create_request.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/status_machine.hpp"

namespace bkr::app {

result<stage_outcome> create_request::handle(storage::unit_of_work& uow, messaging::publisher& out,
                                             const messaging::envelope& message) {
  if (auto ok = check_contract(message, domain::accepted_message); !ok)
    return ok.error();
  auto payload = domain::parse_accepted_payload(message.payload);
  if (!payload)
    return payload.error();
  const auto& id = payload->backup_request_id;
  const domain::transition_context context{
      clock_.now(), std::string(to_string(domain::pipeline_stage::create_request)), message.message_id};
  auto publish_received = [&] {
    out.publish(next_message(domain::received_message, std::string(domain::received_message.queue), id,
                             nlohmann::json(domain::received_payload{id}), message, producer_, clock_));
  };

  // Nothing is stored at intake on the usual path, so the insert comes first: one statement for a new
  // request. A redelivery finds the row and falls through to the status check.
  auto fresh = domain::receive(domain::to_backup_request(*payload), context);
  if (!fresh)
    return fresh.error();
  if (auto* move = std::get_if<domain::applied>(&*fresh)) {
    if (requests_.insert(uow, move->request, move->history)) {
      publish_received();
      return stage_outcome::applied;
    }
  }

  auto stored = requests_.find(uow, id);
  if (!stored)  // another worker's insert was rolled back meanwhile: try again later
    return make_error(errc::concurrent_update, "backup request " + id + " vanished while being created");
  auto t = domain::receive(*stored, context);
  if (!t)
    return t.error();
  auto* move = std::get_if<domain::applied>(&*t);
  if (!move)
    return stage_outcome::already_done;
  // Stored as Accepted at intake: move it with a compare-and-set.
  if (!requests_.update_status(uow, move->request, move->expected_status, move->history))
    return stage_outcome::lost_race;
  publish_received();
  return stage_outcome::applied;
}

std::optional<std::vector<result<stage_outcome>>> create_request::handle_batch(
    storage::unit_of_work& uow, messaging::publisher& out, std::span<const messaging::envelope> batch) {
  // The same decisions as handle(), with one insert for the new requests and one compare-and-set for the
  // ones already stored, instead of statements per message.
  detail::batch_slots slots(batch.size());
  const auto payloads =
      detail::parse_batch(batch, domain::accepted_message, domain::parse_accepted_payload, slots);
  const auto distinct = detail::distinct_request_ids(payloads);
  if (!distinct)
    return std::nullopt;
  const auto& ids = *distinct;
  auto context = [&](std::size_t i) {
    return domain::transition_context{
        clock_.now(), std::string(to_string(domain::pipeline_stage::create_request)), batch[i].message_id};
  };
  // Nothing is stored at intake on the usual path: the insert comes first.
  detail::pending_changes fresh;
  for (std::size_t i = 0; i < batch.size(); ++i)
    if (payloads[i])
      fresh.add(i, domain::receive(domain::to_backup_request(*payloads[i]), context(i)), slots);
  std::vector<storage::new_request> rows;
  for (auto& c : fresh.changes)
    rows.push_back({std::move(c.updated), std::move(c.entry)});

  std::vector<messaging::outgoing_message> publishes;
  auto publish_received = [&](std::size_t i) {
    publishes.push_back(next_message(domain::received_message, std::string(domain::received_message.queue),
                                     ids[i], nlohmann::json(domain::received_payload{ids[i]}), batch[i],
                                     producer_, clock_));
  };
  const auto inserted = requests_.insert_many(uow, rows);
  std::vector<std::string> stored_ids;
  for (auto i : fresh.at) {
    if (inserted.count(ids[i]) != 0) {
      slots[i] = stage_outcome::applied;
      publish_received(i);
    } else {
      stored_ids.push_back(ids[i]);
    }
  }
  // Requests that existed already: a redelivery, or one stored as Accepted at intake.
  const auto stored = detail::requests_by_id(requests_, uow, stored_ids);
  detail::pending_changes pending;
  for (auto i : fresh.at) {
    if (slots[i])
      continue;
    auto it = stored.find(ids[i]);
    if (it == stored.end()) {
      slots[i] =
          make_error(errc::concurrent_update, "backup request " + ids[i] + " vanished while being created");
      continue;
    }
    pending.add(i, domain::receive(it->second, context(i)), slots);
  }
  const auto won = requests_.update_status_many(uow, pending.changes);
  for (auto i : pending.at) {
    if (won.count(ids[i]) != 0) {
      slots[i] = stage_outcome::applied;
      publish_received(i);
    } else {
      slots[i] = stage_outcome::lost_race;
    }
  }
  out.publish_many(std::move(publishes));
  return detail::take_results(slots);
}

}  // namespace bkr::app
