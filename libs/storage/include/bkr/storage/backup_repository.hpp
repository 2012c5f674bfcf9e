// Backup records: at most one per backup request.
#pragma once

#include "bkr/domain/types.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <optional>
#include <string_view>

namespace bkr::storage {

/// Reads and writes `backup` inside the caller's unit of work; never commits. Stateless; shareable.
class backup_repository {
 public:
  /// Inserts `b` unless its request already has a Backup; returns whether it inserted. Two concurrent
  /// success replies for one request thus create one Backup (the second waits for the first to commit).
  bool insert_if_absent(unit_of_work& uow, const domain::backup& b) const;

  /// The request's Backup, or nullopt.
  std::optional<domain::backup> find_by_request(unit_of_work& uow, std::string_view backup_request_id) const;
};

}  // namespace bkr::storage
