// SQL for backup: insert-if-absent on the per-request unique key, lookup by request.
#include "bkr/storage/backup_repository.hpp"

#include "bkr/storage/sql_arrays.hpp"
#include "sql_values.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace bkr::storage {

namespace {

const std::string backup_columns =
    "backup_id, backup_request_id, backup_job_id, to_char(data_date, 'YYYY-MM-DD'),"
    " storage_path_name, backup_provider_code, days_to_keep_count, hold_flag, backup_byte_count,"
    " (extract(epoch FROM copy_start_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM copy_end_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM verify_start_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM verify_end_timestamp) * 1000)::bigint,"
    " verify_hash_text, to_char(due_to_delete_date, 'YYYY-MM-DD'),"
    " (extract(epoch FROM deleted_timestamp) * 1000)::bigint";

domain::backup to_backup(const pqxx::row& row) {
  domain::backup b;
  b.backup_id = row[0].as<std::string>();
  b.backup_request_id = row[1].as<std::string>();
  b.backup_job_id = row[2].as<std::string>();
  b.data_date = detail::date_field(row[3]);
  b.storage_path_name = row[4].as<std::string>();
  b.backup_provider_code = detail::provider_field(row[5]);
  b.days_to_keep_count = row[6].as<int>();
  b.hold_flag = row[7].as<bool>();
  b.backup_byte_count = row[8].as<std::int64_t>();
  b.copy_start_timestamp = detail::timestamp_field(row[9]);
  b.copy_end_timestamp = detail::timestamp_field(row[10]);
  b.verify_start_timestamp = detail::optional_timestamp_field(row[11]);
  b.verify_end_timestamp = detail::optional_timestamp_field(row[12]);
  b.verify_hash_text = detail::optional_text_field(row[13]);
  b.due_to_delete_date = detail::date_field(row[14]);
  b.deleted_timestamp = detail::optional_timestamp_field(row[15]);
  return b;
}

}  // namespace

bool backup_repository::insert_if_absent(unit_of_work& uow, const domain::backup& b) const {
  static const std::string name = "bkr_backup_insert";
  static const std::string sql =
      "INSERT INTO backup (backup_id, backup_request_id, backup_job_id, data_date, storage_path_name,"
      " backup_provider_code, days_to_keep_count, hold_flag, backup_byte_count, copy_start_timestamp,"
      " copy_end_timestamp, verify_start_timestamp, verify_end_timestamp, verify_hash_text, "
      "due_to_delete_date,"
      " deleted_timestamp)"
      " VALUES ($1, $2, $3, $4::date, $5, $6, $7, $8, $9, $10::timestamptz, $11::timestamptz,"
      " $12::timestamptz, $13::timestamptz, $14, $15::date, $16::timestamptz)"
      " ON CONFLICT (backup_request_id) DO NOTHING";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    const auto result = uow.tx().exec_prepared(
        name, b.backup_id, b.backup_request_id, b.backup_job_id, detail::date_param(b.data_date),
        b.storage_path_name, std::string(domain::to_string(b.backup_provider_code)), b.days_to_keep_count,
        b.hold_flag, b.backup_byte_count, detail::timestamp_param(b.copy_start_timestamp),
        detail::timestamp_param(b.copy_end_timestamp), detail::timestamp_param(b.verify_start_timestamp),
        detail::timestamp_param(b.verify_end_timestamp), detail::text_param(b.verify_hash_text),
        detail::date_param(b.due_to_delete_date), detail::timestamp_param(b.deleted_timestamp));
    return result.affected_rows() == 1;
  });
}

std::optional<domain::backup> backup_repository::find_by_request(unit_of_work& uow,
                                                                 std::string_view backup_request_id) const {
  static const std::string name = "bkr_backup_find_by_request";
  static const std::string sql = "SELECT " + backup_columns + " FROM backup WHERE backup_request_id = $1";
  return with_database_errors([&]() -> std::optional<domain::backup> {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(name, std::string(backup_request_id));
    if (rows.empty())
      return std::nullopt;
    return to_backup(rows[0]);
  });
}

std::set<std::string> backup_repository::insert_many_if_absent(
    unit_of_work& uow, std::span<const domain::backup> backups) const {
  if (backups.empty())
    return {};
  static const std::string name = "bkr_backup_insert_many";
  static const std::string sql =
      "INSERT INTO backup (backup_id, backup_request_id, backup_job_id, data_date, storage_path_name,"
      " backup_provider_code, days_to_keep_count, hold_flag, backup_byte_count, copy_start_timestamp,"
      " copy_end_timestamp, verify_start_timestamp, verify_end_timestamp, verify_hash_text,"
      " due_to_delete_date, deleted_timestamp)"
      " SELECT * FROM json_to_recordset($1::json) AS x(id text, rq text, job text, dd date, sp text, pc text,"
      "  days integer, hold boolean, bytes bigint, cs timestamptz, ce timestamptz, vs timestamptz,"
      "  ve timestamptz, vh text, due date, del timestamptz) ORDER BY rq"
      " ON CONFLICT (backup_request_id) DO NOTHING RETURNING backup_request_id";
  std::set<std::string> requests;
  auto rows = nlohmann::json::array();
  for (const auto& b : backups) {
    if (!requests.insert(b.backup_request_id).second)
      throw std::invalid_argument("backup_repository::insert_many_if_absent: two Backups for request " +
                                  b.backup_request_id);
    rows.push_back({{"id", b.backup_id},
                    {"rq", b.backup_request_id},
                    {"job", b.backup_job_id},
                    {"dd", detail::date_param(b.data_date)},
                    {"sp", b.storage_path_name},
                    {"pc", domain::to_string(b.backup_provider_code)},
                    {"days", b.days_to_keep_count},
                    {"hold", b.hold_flag},
                    {"bytes", b.backup_byte_count},
                    {"cs", format_timestamp(b.copy_start_timestamp)},
                    {"ce", format_timestamp(b.copy_end_timestamp)},
                    {"vs", detail::timestamp_json(b.verify_start_timestamp)},
                    {"ve", detail::timestamp_json(b.verify_end_timestamp)},
                    {"vh", detail::text_json(b.verify_hash_text)},
                    {"due", detail::date_param(b.due_to_delete_date)},
                    {"del", detail::timestamp_json(b.deleted_timestamp)}});
  }
  return with_database_errors([&] {
    uow.prepare(name, sql);
    std::set<std::string> inserted;
    for (const auto& row : uow.tx().exec_prepared(name, rows.dump()))
      inserted.insert(row[0].as<std::string>());
    return inserted;
  });
}

std::set<std::string> backup_repository::requests_with_backup(
    unit_of_work& uow, std::span<const std::string> backup_request_ids) const {
  if (backup_request_ids.empty())
    return {};
  static const std::string name = "bkr_backup_requests_with_backup";
  static const std::string sql =
      "SELECT backup_request_id FROM backup WHERE backup_request_id = ANY($1::text[])";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    std::set<std::string> found;
    for (const auto& row : uow.tx().exec_prepared(name, text_array_literal(backup_request_ids)))
      found.insert(row[0].as<std::string>());
    return found;
  });
}

}  // namespace bkr::storage
