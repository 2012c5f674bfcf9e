// Backup requests and their append-only history: insert, compare-and-set status changes, reads, recovery
// scan.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/domain/types.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <cstddef>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace bkr::storage {

/// A compare-and-set for update_status_many(): the same three things update_status() takes.
struct status_change {
  domain::backup_request updated;
  domain::request_status expected;
  domain::history_entry entry;
};

/// A request and its first history entry for insert_many().
struct new_request {
  domain::backup_request request;
  domain::history_entry first;
};

/// Reads and writes `backup_request` and `backup_request_history` inside the caller's unit of work; never
/// commits. Stateless: one instance may be shared by every thread.
class backup_request_repository {
 public:
  /// Inserts `request` and `first` (its first history entry) unless a request with this id exists; returns
  /// whether it inserted. A redelivered CreateRequest message thus writes nothing the second time.
  bool insert(unit_of_work& uow, const domain::backup_request& request,
              const domain::history_entry& first) const;

  /// The request, or nullopt when there is none.
  std::optional<domain::backup_request> find(unit_of_work& uow, std::string_view backup_request_id) const;

  /// Same, and locks the row (SELECT ... FOR UPDATE) until the unit of work ends, for read-decide-write
  /// steps that must not interleave with another worker's on the same request.
  std::optional<domain::backup_request> find_for_update(unit_of_work& uow,
                                                        std::string_view backup_request_id) const;

  /// Compare-and-set: moves the request to `updated.status_type_code` only if it is still at `expected`,
  /// writing the status and the columns that this status sets (Received: receivedTimestamp; Allowed:
  /// checkedTimestamp, backupProviderCode, storagePathName; NotAllowed: checkedTimestamp; Sent:
  /// sentToInterfaceTimestamp; Succeeded/Failed: replyTimestamp, replyMessageText; Accepted:
  /// acceptedTimestamp). `entry` is appended to the history in the same statement, only when the row
  /// changed. Returns whether this call won; false means another worker moved it first (acknowledge, do
  /// not retry). `entry` must name the same request and target status (and `expected` as its from_status,
  /// if it has one); otherwise std::invalid_argument.
  bool update_status(unit_of_work& uow, const domain::backup_request& updated,
                     domain::request_status expected, const domain::history_entry& entry) const;

  /// insert() for many requests in one statement: returns the ids it inserted (the others existed). The ids
  /// must be distinct (std::invalid_argument otherwise).
  std::set<std::string> insert_many(unit_of_work& uow, std::span<const new_request> requests) const;

  /// The stored requests among `ids`, in one statement, in id order; ids without a request are left out.
  /// With `lock`, the rows are locked as by find_for_update(), in id order (concurrent callers cannot
  /// deadlock).
  std::vector<domain::backup_request> find_many(unit_of_work& uow, std::span<const std::string> ids,
                                                bool lock = false) const;

  /// update_status() for many requests in one statement: each change is a compare-and-set of its own, with
  /// its history row written only when it matched. Returns the ids whose compare-and-set won. The requests
  /// must be distinct, and each change must satisfy update_status()'s rules (std::invalid_argument).
  std::set<std::string> update_status_many(unit_of_work& uow, std::span<const status_change> changes) const;

  /// The request's history, oldest first (in the order the transitions were written).
  std::vector<domain::history_entry> history(unit_of_work& uow, std::string_view backup_request_id) const;

  /// Requests that have sat at `status` since before `older_than`, oldest first, at most `limit`: Accepted by
  /// acceptedTimestamp, Received by receivedTimestamp, Allowed by checkedTimestamp, Sent by
  /// sentToInterfaceTimestamp. Other statuses are final or wait on nobody: std::invalid_argument.
  std::vector<domain::backup_request> find_stalled(unit_of_work& uow, domain::request_status status,
                                                   timestamp older_than, std::size_t limit) const;
};

}  // namespace bkr::storage
