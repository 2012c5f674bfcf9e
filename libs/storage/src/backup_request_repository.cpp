// SQL for backup_request and backup_request_history; each write and its history row go in one statement.
#include "bkr/storage/backup_request_repository.hpp"

#include "sql_values.hpp"

#include <stdexcept>
#include <string>

namespace bkr::storage {

namespace {

using detail::nullable;
using detail::text_param;
using detail::timestamp_param;

// Timestamps are read as epoch milliseconds: an exact integer, whatever the session's TimeZone.
const std::string request_columns =
    "backup_request_id, backup_job_id, to_char(data_date, 'YYYY-MM-DD'), prepared_data_path_name,"
    " get_on_start_flag, transport_type_code, status_type_code, requester_id, backup_provider_code,"
    " storage_path_name,"
    " (extract(epoch FROM accepted_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM received_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM checked_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM sent_to_interface_timestamp) * 1000)::bigint,"
    " (extract(epoch FROM reply_timestamp) * 1000)::bigint,"
    " reply_message_text";

const std::string history_columns =
    "backup_request_id, from_status, to_status, (extract(epoch FROM at) * 1000)::bigint, stage,"
    " message_id, reason";

domain::backup_request to_request(const pqxx::row& row) {
  domain::backup_request r;
  r.backup_request_id = row[0].as<std::string>();
  r.backup_job_id = row[1].as<std::string>();
  r.data_date = detail::date_field(row[2]);
  r.prepared_data_path_name = row[3].as<std::string>();
  r.get_on_start_flag = row[4].as<bool>();
  r.transport_type_code = detail::transport_field(row[5]);
  r.status_type_code = detail::status_field(row[6]);
  r.requester_id = row[7].as<std::string>();
  if (!row[8].is_null())
    r.backup_provider_code = detail::provider_field(row[8]);
  r.storage_path_name = detail::optional_text_field(row[9]);
  r.accepted_timestamp = detail::optional_timestamp_field(row[10]);
  r.received_timestamp = detail::optional_timestamp_field(row[11]);
  r.checked_timestamp = detail::optional_timestamp_field(row[12]);
  r.sent_to_interface_timestamp = detail::optional_timestamp_field(row[13]);
  r.reply_timestamp = detail::optional_timestamp_field(row[14]);
  r.reply_message_text = detail::optional_text_field(row[15]);
  return r;
}

domain::history_entry to_history(const pqxx::row& row) {
  domain::history_entry h;
  h.backup_request_id = row[0].as<std::string>();
  if (!row[1].is_null())
    h.from_status = detail::status_field(row[1]);
  h.to_status = detail::status_field(row[2]);
  h.at = detail::timestamp_field(row[3]);
  h.stage = row[4].as<std::string>();
  h.message_id = row[5].is_null() ? std::string() : row[5].as<std::string>();
  h.reason = detail::optional_text_field(row[6]);
  return h;
}

std::string status_text(domain::request_status s) {
  return std::string(domain::to_string(s));
}

nullable<std::string> optional_status_text(const std::optional<domain::request_status>& s) {
  if (!s)
    return {};
  return {status_text(*s)};
}

// No message (e.g. a request written by hand or by recovery) is stored as NULL, not as an empty id.
nullable<std::string> message_id_param(const std::string& message_id) {
  if (message_id.empty())
    return {};
  return {message_id};
}

nullable<std::string> provider_param(const std::optional<domain::provider>& p) {
  if (!p)
    return {};
  return {std::string(domain::to_string(*p))};
}

std::optional<domain::backup_request> find_one(unit_of_work& uow, std::string_view id, bool lock) {
  return with_database_errors([&]() -> std::optional<domain::backup_request> {
    static const std::string plain =
        "SELECT " + request_columns + " FROM backup_request WHERE backup_request_id = $1";
    static const std::string locking = plain + " FOR UPDATE";
    static const std::string plain_name = "bkr_request_find";
    static const std::string locking_name = "bkr_request_find_for_update";
    const auto& name = lock ? uow.prepare(locking_name, locking) : uow.prepare(plain_name, plain);
    const auto rows = uow.tx().exec_prepared(name, std::string(id));
    if (rows.empty())
      return std::nullopt;
    return to_request(rows[0]);
  });
}

// The history row is written by the same statement as the change it records, from the change's RETURNING:
// it exists exactly when the compare-and-set matched a row.
const std::string cas_head = "WITH changed AS (UPDATE backup_request SET status_type_code = $3";
const std::string cas_tail =
    " WHERE backup_request_id = $1 AND status_type_code = $2 RETURNING backup_request_id) "
    "INSERT INTO backup_request_history (backup_request_id, from_status, to_status, at, stage, message_id, "
    "reason) "
    "SELECT backup_request_id, $2, $3, $4::timestamptz, $5, $6, $7 FROM changed";

const std::string& cas_sql(domain::request_status to) {
  using domain::request_status;
  static const std::string accepted = cas_head + ", accepted_timestamp = $8::timestamptz" + cas_tail;
  static const std::string received = cas_head + ", received_timestamp = $8::timestamptz" + cas_tail;
  static const std::string allowed = cas_head +
                                     ", checked_timestamp = $8::timestamptz, backup_provider_code = $9, "
                                     "storage_path_name = $10" +
                                     cas_tail;
  static const std::string not_allowed = cas_head + ", checked_timestamp = $8::timestamptz" + cas_tail;
  static const std::string sent = cas_head + ", sent_to_interface_timestamp = $8::timestamptz" + cas_tail;
  static const std::string replied =
      cas_head + ", reply_timestamp = $8::timestamptz, reply_message_text = $9" + cas_tail;
  switch (to) {
    case request_status::accepted:
      return accepted;
    case request_status::received:
      return received;
    case request_status::allowed:
      return allowed;
    case request_status::not_allowed:
      return not_allowed;
    case request_status::sent:
      return sent;
    case request_status::succeeded:
    case request_status::failed:
      return replied;
  }
  throw std::invalid_argument("update_status: unknown target status");
}

// Statement names live as long as the process: lease::prepare returns a reference to the name it gets.
const std::string& cas_statement_name(domain::request_status to) {
  using domain::request_status;
  static const std::string accepted = "bkr_request_to_accepted";
  static const std::string received = "bkr_request_to_received";
  static const std::string allowed = "bkr_request_to_allowed";
  static const std::string not_allowed = "bkr_request_to_not_allowed";
  static const std::string sent = "bkr_request_to_sent";
  static const std::string succeeded = "bkr_request_to_succeeded";
  static const std::string failed = "bkr_request_to_failed";
  switch (to) {
    case request_status::accepted:
      return accepted;
    case request_status::received:
      return received;
    case request_status::allowed:
      return allowed;
    case request_status::not_allowed:
      return not_allowed;
    case request_status::sent:
      return sent;
    case request_status::succeeded:
      return succeeded;
    case request_status::failed:
      return failed;
  }
  throw std::invalid_argument("update_status: unknown target status");
}

}  // namespace

bool backup_request_repository::insert(unit_of_work& uow, const domain::backup_request& request,
                                       const domain::history_entry& first) const {
  if (first.backup_request_id != request.backup_request_id || first.to_status != request.status_type_code) {
    throw std::invalid_argument("backup_request_repository::insert: the first history entry of " +
                                request.backup_request_id + " must name it and its status");
  }
  static const std::string sql =
      "WITH inserted AS ("
      " INSERT INTO backup_request (backup_request_id, backup_job_id, data_date, prepared_data_path_name,"
      "  get_on_start_flag, transport_type_code, status_type_code, requester_id, backup_provider_code,"
      "  storage_path_name, accepted_timestamp, received_timestamp, checked_timestamp,"
      "  sent_to_interface_timestamp, reply_timestamp, reply_message_text)"
      " VALUES ($1, $2, $3::date, $4, $5, $6, $7, $8, $9, $10, $11::timestamptz, $12::timestamptz,"
      "  $13::timestamptz, $14::timestamptz, $15::timestamptz, $16)"
      " ON CONFLICT (backup_request_id) DO NOTHING"
      " RETURNING backup_request_id) "
      "INSERT INTO backup_request_history (backup_request_id, from_status, to_status, at, stage, message_id, "
      "reason) "
      "SELECT backup_request_id, $17, $18, $19::timestamptz, $20, $21, $22 FROM inserted";
  static const std::string name = "bkr_request_insert";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    const auto result = uow.tx().exec_prepared(
        name, request.backup_request_id, request.backup_job_id, detail::date_param(request.data_date),
        request.prepared_data_path_name, request.get_on_start_flag,
        std::string(domain::to_string(request.transport_type_code)), status_text(request.status_type_code),
        request.requester_id, provider_param(request.backup_provider_code),
        text_param(request.storage_path_name), timestamp_param(request.accepted_timestamp),
        timestamp_param(request.received_timestamp), timestamp_param(request.checked_timestamp),
        timestamp_param(request.sent_to_interface_timestamp), timestamp_param(request.reply_timestamp),
        text_param(request.reply_message_text), optional_status_text(first.from_status),
        status_text(first.to_status), timestamp_param(first.at), first.stage,
        message_id_param(first.message_id), text_param(first.reason));
    return result.affected_rows() == 1;
  });
}

std::optional<domain::backup_request> backup_request_repository::find(
    unit_of_work& uow, std::string_view backup_request_id) const {
  return find_one(uow, backup_request_id, false);
}

std::optional<domain::backup_request> backup_request_repository::find_for_update(
    unit_of_work& uow, std::string_view backup_request_id) const {
  return find_one(uow, backup_request_id, true);
}

bool backup_request_repository::update_status(unit_of_work& uow, const domain::backup_request& updated,
                                              domain::request_status expected,
                                              const domain::history_entry& entry) const {
  using domain::request_status;
  const request_status to = updated.status_type_code;
  if (entry.backup_request_id != updated.backup_request_id || entry.to_status != to ||
      (entry.from_status && *entry.from_status != expected)) {
    throw std::invalid_argument("backup_request_repository::update_status: the history entry of " +
                                updated.backup_request_id + " does not describe the change " +
                                status_text(expected) + " -> " + status_text(to));
  }
  if (to == expected) {
    throw std::invalid_argument("backup_request_repository::update_status: " + updated.backup_request_id +
                                " would move from " + status_text(expected) + " to itself");
  }
  return with_database_errors([&] {
    const auto& name = uow.prepare(cas_statement_name(to), cas_sql(to));
    auto& tx = uow.tx();
    const auto id = updated.backup_request_id;
    const auto from_text = status_text(expected);
    const auto to_text = status_text(to);
    const auto at = timestamp_param(entry.at);
    const auto message_id = message_id_param(entry.message_id);
    const auto reason = text_param(entry.reason);
    pqxx::result result;
    switch (to) {
      case request_status::accepted:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.accepted_timestamp));
        break;
      case request_status::received:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.received_timestamp));
        break;
      case request_status::allowed:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.checked_timestamp),
                                  provider_param(updated.backup_provider_code),
                                  text_param(updated.storage_path_name));
        break;
      case request_status::not_allowed:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.checked_timestamp));
        break;
      case request_status::sent:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.sent_to_interface_timestamp));
        break;
      case request_status::succeeded:
      case request_status::failed:
        result = tx.exec_prepared(name, id, from_text, to_text, at, entry.stage, message_id, reason,
                                  timestamp_param(updated.reply_timestamp),
                                  text_param(updated.reply_message_text));
        break;
    }
    return result.affected_rows() == 1;
  });
}

std::vector<domain::history_entry> backup_request_repository::history(
    unit_of_work& uow, std::string_view backup_request_id) const {
  static const std::string sql =
      "SELECT " + history_columns +
      " FROM backup_request_history WHERE backup_request_id = $1 ORDER BY history_id";
  static const std::string name = "bkr_request_history";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(name, std::string(backup_request_id));
    std::vector<domain::history_entry> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
      out.push_back(to_history(row));
    return out;
  });
}

std::vector<domain::backup_request> backup_request_repository::find_stalled(unit_of_work& uow,
                                                                            domain::request_status status,
                                                                            timestamp older_than,
                                                                            std::size_t limit) const {
  using domain::request_status;
  // One statement per status: the timestamp column is part of the statement, and each has its index.
  auto stalled_sql = [](const char* column) {
    return "SELECT " + request_columns + " FROM backup_request WHERE status_type_code = $1 AND " + column +
           " < $2::timestamptz ORDER BY " + column + " LIMIT $3::bigint";
  };
  static const std::string by_accepted = stalled_sql("accepted_timestamp");
  static const std::string by_received = stalled_sql("received_timestamp");
  static const std::string by_checked = stalled_sql("checked_timestamp");
  static const std::string by_sent = stalled_sql("sent_to_interface_timestamp");
  static const std::string by_accepted_name = "bkr_request_stalled_accepted";
  static const std::string by_received_name = "bkr_request_stalled_received";
  static const std::string by_checked_name = "bkr_request_stalled_allowed";
  static const std::string by_sent_name = "bkr_request_stalled_sent";
  const std::string* sql = nullptr;
  const std::string* name = nullptr;
  switch (status) {
    case request_status::accepted:
      sql = &by_accepted;
      name = &by_accepted_name;
      break;
    case request_status::received:
      sql = &by_received;
      name = &by_received_name;
      break;
    case request_status::allowed:
      sql = &by_checked;
      name = &by_checked_name;
      break;
    case request_status::sent:
      sql = &by_sent;
      name = &by_sent_name;
      break;
    case request_status::not_allowed:
    case request_status::succeeded:
    case request_status::failed:
      throw std::invalid_argument("find_stalled: requests at " + status_text(status) + " wait on nobody");
  }
  return with_database_errors([&] {
    uow.prepare(*name, *sql);
    const auto rows = uow.tx().exec_prepared(*name, status_text(status), timestamp_param(older_than), limit);
    std::vector<domain::backup_request> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
      out.push_back(to_request(row));
    return out;
  });
}

}  // namespace bkr::storage
