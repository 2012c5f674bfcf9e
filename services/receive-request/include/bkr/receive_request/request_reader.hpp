// Reading one backup request for GET: the stored row, or the accepted message CreateRequest has not stored
// yet.
#pragma once

#include "bkr/domain/types.hpp"
#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/storage/connection_pool.hpp"

#include <optional>
#include <string_view>
#include <vector>

namespace bkr::receive_request {

/// What GET /api/backup-requests/{id} shows.
struct request_snapshot {
  domain::backup_request request;
  std::vector<domain::history_entry> history;  ///< empty while only the accepted message exists
  bool from_message = false;                   ///< true when read from the accepted message
};

/// Reads the request `backup_request_id`. CreateRequest moves a request from its accepted message to its
/// row in one transaction, so the reads go row, then message, then row again (each statement sees the
/// latest commit): a request being stored between the first two reads is found by the third. A message
/// still queued (or dead-lettered, not stored yet) is reported as the Accepted request it describes.
/// Returns nullopt when neither exists. Blocking (libpqxx): call it on a blocking thread. Throws storage's
/// database errors.
std::optional<request_snapshot> read_backup_request(storage::connection_pool& pool,
                                                    std::string_view backup_request_id);

}  // namespace bkr::receive_request
