// Backup records: at most one per backup request.
#pragma once

#include "bkr/domain/types.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <optional>
#include <set>
#include <span>
#include <string>
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

  /// insert_if_absent() for many Backups in one statement: returns the request ids whose Backup it
  /// inserted. One Backup per request in `backups` (std::invalid_argument otherwise).
  std::set<std::string> insert_many_if_absent(unit_of_work& uow,
                                              std::span<const domain::backup> backups) const;

  /// Which of the requests `backup_request_ids` have a Backup, in one statement.
  std::set<std::string> requests_with_backup(unit_of_work& uow,
                                             std::span<const std::string> backup_request_ids) const;
};

}  // namespace bkr::storage
