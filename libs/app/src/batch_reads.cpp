// Helpers of the stages' batch paths: reads outside the settlement transaction, result slots, job lookups.
#include "batch_reads.hpp"

#include "bkr/storage/unit_of_work.hpp"

#include <set>
#include <stdexcept>

namespace bkr::app::detail {

std::vector<std::string> payload_request_ids(std::span<const messaging::envelope> batch) {
  std::vector<std::string> ids;
  ids.reserve(batch.size());
  for (const auto& m : batch) {
    if (!m.payload.is_object())
      continue;
    auto it = m.payload.find("backupRequestId");
    if (it != m.payload.end() && it->is_string())
      ids.push_back(it->get<std::string>());
  }
  return ids;
}

std::vector<domain::backup_request> read_requests(storage::connection_pool& pool,
                                                  const storage::backup_request_repository& requests,
                                                  std::span<const std::string> ids) {
  if (ids.empty())
    return {};
  storage::unit_of_work uow(pool);
  auto found = requests.find_many(uow, ids);
  uow.commit();
  return found;
}

std::vector<result<stage_outcome>> take_results(batch_slots& slots) {
  std::vector<result<stage_outcome>> out;
  out.reserve(slots.size());
  for (auto& s : slots) {
    if (!s)
      throw std::logic_error("a message of the batch was left undecided");
    out.push_back(std::move(*s));
  }
  return out;
}

bool has_duplicates(std::span<const std::string> ids) {
  std::set<std::string_view> seen;
  for (const auto& id : ids)
    if (!seen.insert(id).second)
      return true;
  return false;
}

std::vector<std::string> present(std::span<const std::string> ids) {
  std::vector<std::string> out;
  for (const auto& id : ids)
    if (!id.empty())
      out.push_back(id);
  return out;
}

std::map<std::string, domain::backup_request> requests_by_id(
    const storage::backup_request_repository& requests, storage::unit_of_work& uow,
    std::span<const std::string> ids, bool lock) {
  std::map<std::string, domain::backup_request> out;
  for (auto& r : requests.find_many(uow, present(ids), lock)) {
    auto id = r.backup_request_id;
    out.emplace(std::move(id), std::move(r));
  }
  return out;
}

bool pending_changes::add(std::size_t i, result<domain::transition> t, batch_slots& slots) {
  if (!t) {
    slots[i] = t.error();
    return false;
  }
  auto* move = std::get_if<domain::applied>(&*t);
  if (!move) {
    slots[i] = stage_outcome::already_done;
    return false;
  }
  changes.push_back({std::move(move->request), move->expected_status, std::move(move->history)});
  at.push_back(i);
  return true;
}

const job_lookup& job_lookups::find(const std::string& backup_job_id) {
  auto it = found_.find(backup_job_id);
  if (it == found_.end())
    it = found_.emplace(backup_job_id, jobs_.find(uow_, backup_job_id)).first;
  return it->second;
}

}  // namespace bkr::app::detail
