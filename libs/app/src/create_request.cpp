// CreateRequest: Accepted -> Received, first history row and the received message in one transaction.
#include "bkr/app/create_request.hpp"

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

}  // namespace bkr::app
