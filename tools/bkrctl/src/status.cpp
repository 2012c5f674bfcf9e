// `bkrctl status ID`: a backup request's journey — its current fields, every transition, and its Backup.
#include "commands.hpp"

#include "bkr/domain/json.hpp"
#include "bkr/messaging/postgres/backend.hpp"
#include "bkr/storage/backup_repository.hpp"
#include "bkr/storage/backup_request_repository.hpp"
#include "bkr/storage/connection_pool.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <iomanip>
#include <ostream>

namespace bkr::bkrctl {

int status(const context& ctx, std::span<const std::string> args) {
  bool json = false;
  std::string id;
  for (const auto& a : args) {
    if (a == "--json") {
      json = true;
    } else if (id.empty() && !a.starts_with("--")) {
      id = a;
    } else {
      ctx.err << "usage: bkrctl status BACKUP_REQUEST_ID [--json]\n";
      return 2;
    }
  }
  if (id.empty() || id.size() > 50) {
    ctx.err << "usage: bkrctl status BACKUP_REQUEST_ID [--json]  (an id of 1..50 characters)\n";
    return 2;
  }
  if (ctx.database_url.empty()) {
    ctx.err << "bkrctl status: BKR_DATABASE_URL is not set\n";
    return 1;
  }
  storage::connection_pool pool({.conninfo = ctx.database_url, .size = 1});
  storage::unit_of_work uow(pool);
  const storage::backup_request_repository requests;
  const auto request = requests.find(uow, id);
  if (!request) {
    // Before CreateRequest runs, the request exists only as its accepted message.
    const std::string key(id);
    auto pending = messaging::postgres::pending_keys(uow, "backup-request.accepted",
                                                     std::span<const std::string>(&key, 1));
    if (!pending.empty()) {
      if (json)
        ctx.out << nlohmann::json{{"backupRequestId", id}, {"statusTypeCode", "Accepted"}}.dump(2) << "\n";
      else
        ctx.out << id << ": Accepted (queued for CreateRequest; not stored yet)\n";
      return 0;
    }
    ctx.err << "bkrctl status: no backup request " << id << "\n";
    return 1;
  }
  const auto history = requests.history(uow, id);
  const auto backup = storage::backup_repository{}.find_by_request(uow, id);
  if (json) {
    nlohmann::json out = *request;
    out["history"] = history;
    out["backup"] = backup ? nlohmann::json(*backup) : nlohmann::json(nullptr);
    ctx.out << out.dump(2) << "\n";
    return 0;
  }
  ctx.out << id << ": " << domain::to_string(request->status_type_code) << "  job " << request->backup_job_id
          << ", data date " << domain::format_date(request->data_date) << ", requester "
          << request->requester_id << "\n";
  for (const auto& h : history) {
    ctx.out << "  " << format_timestamp(h.at) << "  " << std::left << std::setw(10)
            << (h.from_status ? domain::to_string(*h.from_status) : std::string_view("-")) << " -> "
            << std::setw(10) << domain::to_string(h.to_status) << "  " << h.stage
            << (h.reason ? "  (" + *h.reason + ")" : "") << "\n";
  }
  if (backup) {
    ctx.out << "  backup " << backup->backup_id << ": " << backup->backup_byte_count << " bytes at "
            << backup->storage_path_name << ", delete due " << domain::format_date(backup->due_to_delete_date)
            << "\n";
  }
  return 0;
}

}  // namespace bkr::bkrctl
