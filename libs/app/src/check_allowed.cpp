// CheckAllowed: Received -> Allowed | NotAllowed from the job, and the allowed message when Allowed.
#include "bkr/app/check_allowed.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/domain/status_machine.hpp"

#include <map>
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
  std::vector<std::string> ids(batch.size());
  std::vector<std::string> named;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (auto ok = check_contract(batch[i], domain::received_message); !ok) {
      slots[i] = ok.error();
      continue;
    }
    auto payload = domain::parse_received_payload(batch[i].payload);
    if (!payload) {
      slots[i] = payload.error();
      continue;
    }
    ids[i] = payload->backup_request_id;
    named.push_back(ids[i]);
  }
  if (detail::has_duplicates(named))
    return std::nullopt;
  std::map<std::string, domain::backup_request> stored;
  for (auto& r : requests_.find_many(uow, named))
    stored.emplace(r.backup_request_id, std::move(r));

  detail::job_lookups jobs(jobs_, uow);
  std::vector<storage::status_change> changes;
  std::vector<std::size_t> change_at;
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
    auto t = domain::check_allowed(request, job, context);
    if (!t) {
      slots[i] = t.error();
      continue;
    }
    auto* move = std::get_if<domain::applied>(&*t);
    if (!move) {
      slots[i] = stage_outcome::already_done;
      continue;
    }
    changes.push_back({std::move(move->request), move->expected_status, std::move(move->history)});
    change_at.push_back(i);
  }
  const auto won = requests_.update_status_many(uow, changes);
  std::vector<messaging::outgoing_message> publishes;
  for (std::size_t k = 0; k < change_at.size(); ++k) {
    const auto i = change_at[k];
    if (won.count(ids[i]) == 0) {
      slots[i] = stage_outcome::lost_race;
      continue;
    }
    slots[i] = stage_outcome::applied;
    if (changes[k].updated.status_type_code == domain::request_status::allowed)
      publishes.push_back(next_message(domain::allowed_message, std::string(domain::allowed_message.queue),
                                       ids[i], nlohmann::json(domain::allowed_payload{ids[i]}), batch[i],
                                       producer_, clock_));
  }
  out.publish_many(std::move(publishes));
  return detail::take_results(slots);
}

}  // namespace bkr::app
