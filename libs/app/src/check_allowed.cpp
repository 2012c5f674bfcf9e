// CheckAllowed: Received -> Allowed | NotAllowed from the job, and the allowed message when Allowed.
#include "bkr/app/check_allowed.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/status_machine.hpp"

#include <set>

namespace bkr::app {

void check_allowed::prepare(std::span<const messaging::envelope> batch) {
  if (!jobs_.wants_prefetch())
    return;
  const auto ids = detail::payload_request_ids(batch);
  std::set<std::string> job_ids;
  for (const auto& r : detail::read_requests(pool_, requests_, ids))
    if (r.status_type_code == domain::request_status::received)
      job_ids.insert(r.backup_job_id);
  const std::vector<std::string> list(job_ids.begin(), job_ids.end());
  jobs_.prefetch(list);
}

result<stage_outcome> check_allowed::handle(storage::unit_of_work& uow, messaging::publisher& out,
                                            const messaging::envelope& message) {
  if (auto ok = check_contract(message, domain::received_message); !ok)
    return ok.error();
  auto payload = domain::parse_received_payload(message.payload);
  if (!payload)
    return payload.error();
  const auto& id = payload->backup_request_id;
  auto request = requests_.find(uow, id);
  if (!request)
    return make_error(errc::unknown_request, "unknown backupRequestId " + id);
  const domain::transition_context context{
      clock_.now(), std::string(to_string(domain::pipeline_stage::check_allowed)), message.message_id};

  std::optional<domain::backup_job> job;
  // Only a Received request needs the job; redeliveries (and too-early messages) are decided without it.
  if (request->status_type_code == domain::request_status::received) {
    auto lookup = jobs_.find(uow, request->backup_job_id);
    if (!lookup)
      return lookup.error();
    job = std::move(*lookup);
  }
  auto t = domain::check_allowed(*request, job, context);
  if (!t)
    return t.error();
  auto* move = std::get_if<domain::applied>(&*t);
  if (!move)
    return stage_outcome::already_done;
  if (!requests_.update_status(uow, move->request, move->expected_status, move->history))
    return stage_outcome::lost_race;
  if (move->request.status_type_code == domain::request_status::allowed)
    out.publish(next_message(domain::allowed_message, std::string(domain::allowed_message.queue), id,
                             nlohmann::json(domain::allowed_payload{id}), message, producer_, clock_));
  return stage_outcome::applied;
}

std::optional<std::vector<result<stage_outcome>>> check_allowed::handle_batch(
    storage::unit_of_work& uow, messaging::publisher& out, std::span<const messaging::envelope> batch) {
  // The same decisions as handle(): one read of the batch's requests, each job asked once, one
  // compare-and-set for the batch.
  detail::batch_slots slots(batch.size());
  const auto payloads =
      detail::parse_batch(batch, domain::received_message, domain::parse_received_payload, slots);
  const auto distinct = detail::distinct_request_ids(payloads);
  if (!distinct)
    return std::nullopt;
  const auto& ids = *distinct;
  const auto stored = detail::requests_by_id(requests_, uow, ids);

  detail::job_lookups jobs(jobs_, uow);
  detail::pending_changes pending;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (slots[i])
      continue;
    auto it = stored.find(ids[i]);
    if (it == stored.end()) {
      slots[i] = make_error(errc::unknown_request, "unknown backupRequestId " + ids[i]);
      continue;
    }
    const auto& request = it->second;
    std::optional<domain::backup_job> job;
    if (request.status_type_code == domain::request_status::received) {
      const auto& lookup = jobs.find(request.backup_job_id);
      if (!lookup) {
        slots[i] = lookup.error();
        continue;
      }
      job = *lookup;
    }
    const domain::transition_context context{
        clock_.now(), std::string(to_string(domain::pipeline_stage::check_allowed)), batch[i].message_id};
    pending.add(i, domain::check_allowed(request, job, context), slots);
  }
  const auto won = requests_.update_status_many(uow, pending.changes);
  std::vector<messaging::outgoing_message> publishes;
  for (std::size_t k = 0; k < pending.at.size(); ++k) {
    const auto i = pending.at[k];
    if (won.count(ids[i]) == 0) {
      slots[i] = stage_outcome::lost_race;
      continue;
    }
    slots[i] = stage_outcome::applied;
    if (pending.changes[k].updated.status_type_code == domain::request_status::allowed)
      publishes.push_back(next_message(domain::allowed_message, std::string(domain::allowed_message.queue),
                                       ids[i], nlohmann::json(domain::allowed_payload{ids[i]}), batch[i],
                                       producer_, clock_));
  }
  out.publish_many(std::move(publishes));
  return detail::take_results(slots);
}

}  // namespace bkr::app
