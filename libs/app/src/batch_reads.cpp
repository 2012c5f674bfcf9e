// Reads of a batch's requests outside the settlement transaction.
#include "batch_reads.hpp"

#include "bkr/storage/unit_of_work.hpp"

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
  std::vector<domain::backup_request> found;
  if (ids.empty())
    return found;
  storage::unit_of_work uow(pool);
  for (const auto& id : ids)
    if (auto r = requests.find(uow, id))
      found.push_back(std::move(*r));
  uow.commit();
  return found;
}

}  // namespace bkr::app::detail
