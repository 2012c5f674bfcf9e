// SendToInterface: Allowed -> Sent and the hand-over of the store request, in one transaction.
#include "bkr/app/send_to_interface.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/status_machine.hpp"

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

}  // namespace bkr::app
