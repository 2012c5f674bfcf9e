// SQL for the local backup job registry.
#include "bkr/storage/backup_job_repository.hpp"

#include "sql_values.hpp"

#include <string>

namespace bkr::storage {

std::optional<domain::backup_job> backup_job_repository::find(unit_of_work& uow,
                                                              std::string_view backup_job_id) const {
  static const std::string name = "bkr_job_find";
  static const std::string sql =
      "SELECT backup_job_id, storage_path_name, backup_provider_code, days_to_keep, is_active, hold_flag"
      " FROM backup_job WHERE backup_job_id = $1";
  return with_database_errors([&]() -> std::optional<domain::backup_job> {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(name, std::string(backup_job_id));
    if (rows.empty())
      return std::nullopt;
    const auto& row = rows[0];
    domain::backup_job job;
    job.backup_job_id = row[0].as<std::string>();
    job.storage_path_name = row[1].as<std::string>();
    job.backup_provider_code = detail::provider_field(row[2]);
    job.days_to_keep = row[3].as<int>();
    job.is_active = row[4].as<bool>();
    job.hold_flag = row[5].as<bool>();
    return job;
  });
}

void backup_job_repository::upsert(unit_of_work& uow, const domain::backup_job& job) const {
  static const std::string name = "bkr_job_upsert";
  static const std::string sql =
      "INSERT INTO backup_job (backup_job_id, storage_path_name, backup_provider_code, days_to_keep, "
      "is_active,"
      " hold_flag) VALUES ($1, $2, $3, $4, $5, $6)"
      " ON CONFLICT (backup_job_id) DO UPDATE SET storage_path_name = EXCLUDED.storage_path_name,"
      " backup_provider_code = EXCLUDED.backup_provider_code, days_to_keep = EXCLUDED.days_to_keep,"
      " is_active = EXCLUDED.is_active, hold_flag = EXCLUDED.hold_flag, updated_at = now()";
  with_database_errors([&] {
    uow.prepare(name, sql);
    uow.tx().exec_prepared(name, job.backup_job_id, job.storage_path_name,
                           std::string(domain::to_string(job.backup_provider_code)), job.days_to_keep,
                           job.is_active, job.hold_flag);
  });
}

}  // namespace bkr::storage
