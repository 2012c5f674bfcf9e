// The local backup job registry (backup_job table).
#pragma once

#include "bkr/domain/types.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <optional>
#include <string_view>

namespace bkr::storage {

/// Reads and writes `backup_job` inside the caller's unit of work; never commits. Stateless; shareable.
class backup_job_repository {
 public:
  std::optional<domain::backup_job> find(unit_of_work& uow, std::string_view backup_job_id) const;
  /// Inserts the job or replaces every field of the existing one (updated_at = now()).
  void upsert(unit_of_work& uow, const domain::backup_job& job) const;
};

}  // namespace bkr::storage
