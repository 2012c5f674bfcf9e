// ReceiveStatus: the Backup record and Sent/Failed -> Succeeded/Failed in one transaction.
#include "bkr/app/receive_status.hpp"

#include "batch_reads.hpp"
#include "bkr/app/errors.hpp"
#include "bkr/common/ids.hpp"
#include "bkr/domain/store_reply.hpp"

#include <set>
#include <stdexcept>

namespace bkr::app {
namespace {

/// A reply to a request in this status may create a Backup, so it needs the job (daysToKeep, holdFlag).
bool may_create_backup(domain::request_status s) {
  return s == domain::request_status::sent || s == domain::request_status::failed ||
         s == domain::request_status::succeeded;
}

}  // namespace

void receive_status::prepare(std::span<const messaging::envelope> batch) {
  if (!jobs_.wants_prefetch())
    return;
  std::vector<std::string> ids;
  for (const auto& m : batch) {
    auto reply = domain::parse_store_status_reply(m.payload);
    if (reply && reply->result_type_code == domain::store_result::succeeded)
      ids.push_back(reply->backup_request_id);
  }
  std::set<std::string> job_ids;
  for (const auto& r : detail::read_requests(pool_, requests_, ids))
    if (may_create_backup(r.status_type_code))
      job_ids.insert(r.backup_job_id);
  const std::vector<std::string> list(job_ids.begin(), job_ids.end());
  jobs_.prefetch(list);
}

result<stage_outcome> receive_status::handle(storage::unit_of_work& uow, messaging::publisher&,
                                             const messaging::envelope& message) {
  if (auto ok = check_contract(message, domain::store_status_message); !ok)
    return ok.error();
  auto reply = domain::parse_store_status_reply(message.payload);
  if (!reply)
    return reply.error();
  const auto& id = reply->backup_request_id;
  // The row lock serializes replies for one request: read-decide-write must not interleave with another
  // reply's, or a success racing a failure could leave a Backup beside a Failed request.
  auto request = requests_.find_for_update(uow, id);
  if (!request)
    return make_error(errc::unknown_request, "unknown backupRequestId " + id);
  const bool backup_exists = backups_.find_by_request(uow, id).has_value();

  std::optional<domain::backup_job> job;
  if (!backup_exists && reply->result_type_code == domain::store_result::succeeded &&
      may_create_backup(request->status_type_code)) {
    auto lookup = jobs_.find(uow, request->backup_job_id);
    if (!lookup)
      return lookup.error();
    job = std::move(*lookup);
  }
  const domain::transition_context context{
      clock_.now(), std::string(to_string(domain::pipeline_stage::receive_status)), message.message_id};
  auto outcome =
      domain::apply_store_status_reply(*request, *reply, backup_exists, job, context, new_uuid_v7());
  if (!outcome)
    return outcome.error();
  // The Backup first (DOMAIN.md: its existence wins); under the row lock no other reply can insert one.
  if (outcome->new_backup && !backups_.insert_if_absent(uow, *outcome->new_backup))
    return make_error(errc::concurrent_update, "a Backup for backup request " + id + " appeared meanwhile");
  auto* move = std::get_if<domain::applied>(&outcome->request);
  if (!move)
    return stage_outcome::already_done;
  if (!requests_.update_status(uow, move->request, move->expected_status, move->history))
    return make_error(errc::concurrent_update,
                      "backup request " + id + " changed while its reply was applied");
  return stage_outcome::applied;
}

std::optional<std::vector<result<stage_outcome>>> receive_status::handle_batch(
    storage::unit_of_work& uow, messaging::publisher&, std::span<const messaging::envelope> batch) {
  // The same decisions as handle(): the batch's requests locked in one statement (in id order), one read of
  // which have a Backup, each job asked once, one insert of the new Backups, one compare-and-set.
  detail::batch_slots slots(batch.size());
  const auto replies =
      detail::parse_batch(batch, domain::store_status_message, domain::parse_store_status_reply, slots);
  // Two replies for one request must be applied one after the other, in order: distinct_request_ids
  // declines such batches.
  const auto ids = detail::distinct_request_ids(replies);
  if (!ids)
    return std::nullopt;
  const auto stored = detail::requests_by_id(requests_, uow, *ids, true);
  const auto with_backup = backups_.requests_with_backup(uow, detail::present(*ids));

  detail::job_lookups jobs(jobs_, uow);
  std::vector<domain::backup> new_backups;
  std::vector<storage::status_change> changes;
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (slots[i])
      continue;
    const auto& reply = *replies[i];
    const auto& id = reply.backup_request_id;
    auto it = stored.find(id);
    if (it == stored.end()) {
      slots[i] = make_error(errc::unknown_request, "unknown backupRequestId " + id);
      continue;
    }
    const auto& request = it->second;
    const bool backup_exists = with_backup.count(id) != 0;
    std::optional<domain::backup_job> job;
    if (!backup_exists && reply.result_type_code == domain::store_result::succeeded &&
        may_create_backup(request.status_type_code)) {
      const auto& lookup = jobs.find(request.backup_job_id);
      if (!lookup) {
        slots[i] = lookup.error();
        continue;
      }
      job = *lookup;
    }
    const domain::transition_context context{
        clock_.now(), std::string(to_string(domain::pipeline_stage::receive_status)), batch[i].message_id};
    auto outcome =
        domain::apply_store_status_reply(request, reply, backup_exists, job, context, new_uuid_v7());
    if (!outcome) {
      slots[i] = outcome.error();
      continue;
    }
    if (outcome->new_backup)
      new_backups.push_back(std::move(*outcome->new_backup));
    auto* move = std::get_if<domain::applied>(&outcome->request);
    if (!move) {
      slots[i] = stage_outcome::already_done;
      continue;
    }
    changes.push_back({std::move(move->request), move->expected_status, std::move(move->history)});
    slots[i] = stage_outcome::applied;
  }
  // Under the row locks neither can miss; if one does, the batch runs message by message, which reports it.
  if (requests_.update_status_many(uow, changes).size() != changes.size())
    throw std::runtime_error("a backup request of the batch changed while its reply was applied");
  if (backups_.insert_many_if_absent(uow, new_backups).size() != new_backups.size())
    throw std::runtime_error("a Backup of the batch appeared meanwhile");
  return detail::take_results(slots);
}

}  // namespace bkr::app
