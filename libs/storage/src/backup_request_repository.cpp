// SQL for backup_request and backup_request_history; each write and its history row go in one statement.
#include "bkr/storage/backup_request_repository.hpp"

#include "bkr/storage/sql_arrays.hpp"
#include "sql_values.hpp"

#include <nlohmann/json.hpp>

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

namespace {

void check_change(const domain::backup_request& updated, domain::request_status expected,
                  const domain::history_entry& entry) {
  const auto to = updated.status_type_code;
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
}

std::set<std::string> id_set(const pqxx::result& rows) {
  std::set<std::string> out;
  for (const auto& row : rows)
    out.insert(row[0].as<std::string>());
  return out;
}

}  // namespace

bool backup_request_repository::update_status(unit_of_work& uow, const domain::backup_request& updated,
                                              domain::request_status expected,
                                              const domain::history_entry& entry) const {
  using domain::request_status;
  const request_status to = updated.status_type_code;
  check_change(updated, expected, entry);
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

std::set<std::string> backup_request_repository::insert_many(unit_of_work& uow,
                                                             std::span<const new_request> requests) const {
  if (requests.empty())
    return {};
  // Rows travel as one JSON array; each history row is written only for a request the insert created.
  static const std::string sql =
      "WITH x AS (SELECT * FROM json_to_recordset($1::json) AS x(id text, job text, dd date, path text,"
      "  gos boolean, tt text, st text, rq text, pc text, sp text, acc timestamptz, rec timestamptz,"
      "  chk timestamptz, snt timestamptz, rep timestamptz, rt text, hf text, ht text, hat timestamptz,"
      "  hs text, hm text, hr text)),"
      " inserted AS ("
      "  INSERT INTO backup_request (backup_request_id, backup_job_id, data_date, prepared_data_path_name,"
      "   get_on_start_flag, transport_type_code, status_type_code, requester_id, backup_provider_code,"
      "   storage_path_name, accepted_timestamp, received_timestamp, checked_timestamp,"
      "   sent_to_interface_timestamp, reply_timestamp, reply_message_text)"
      "  SELECT id, job, dd, path, gos, tt, st, rq, pc, sp, acc, rec, chk, snt, rep, rt FROM x ORDER BY id"
      "  ON CONFLICT (backup_request_id) DO NOTHING"
      "  RETURNING backup_request_id),"
      " history AS ("
      "  INSERT INTO backup_request_history (backup_request_id, from_status, to_status, at, stage, "
      "message_id,"
      "   reason)"
      "  SELECT x.id, x.hf, x.ht, x.hat, x.hs, x.hm, x.hr FROM x JOIN inserted i ON i.backup_request_id = "
      "x.id"
      "  ORDER BY x.id)"
      " SELECT backup_request_id FROM inserted";
  static const std::string name = "bkr_request_insert_many";
  std::set<std::string> ids;
  auto rows = nlohmann::json::array();
  for (const auto& [request, first] : requests) {
    if (first.backup_request_id != request.backup_request_id || first.to_status != request.status_type_code)
      throw std::invalid_argument("backup_request_repository::insert_many: the first history entry of " +
                                  request.backup_request_id + " must name it and its status");
    if (!ids.insert(request.backup_request_id).second)
      throw std::invalid_argument("backup_request_repository::insert_many: " + request.backup_request_id +
                                  " appears twice");
    rows.push_back(
        {{"id", request.backup_request_id},
         {"job", request.backup_job_id},
         {"dd", detail::date_param(request.data_date)},
         {"path", request.prepared_data_path_name},
         {"gos", request.get_on_start_flag},
         {"tt", domain::to_string(request.transport_type_code)},
         {"st", status_text(request.status_type_code)},
         {"rq", request.requester_id},
         {"pc", request.backup_provider_code
                    ? nlohmann::json(domain::to_string(*request.backup_provider_code))
                    : nlohmann::json(nullptr)},
         {"sp", detail::text_json(request.storage_path_name)},
         {"acc", detail::timestamp_json(request.accepted_timestamp)},
         {"rec", detail::timestamp_json(request.received_timestamp)},
         {"chk", detail::timestamp_json(request.checked_timestamp)},
         {"snt", detail::timestamp_json(request.sent_to_interface_timestamp)},
         {"rep", detail::timestamp_json(request.reply_timestamp)},
         {"rt", detail::text_json(request.reply_message_text)},
         {"hf",
          first.from_status ? nlohmann::json(status_text(*first.from_status)) : nlohmann::json(nullptr)},
         {"ht", status_text(first.to_status)},
         {"hat", format_timestamp(first.at)},
         {"hs", first.stage},
         {"hm", first.message_id.empty() ? nlohmann::json(nullptr) : nlohmann::json(first.message_id)},
         {"hr", detail::text_json(first.reason)}});
  }
  return with_database_errors([&] {
    uow.prepare(name, sql);
    return id_set(uow.tx().exec_prepared(name, rows.dump()));
  });
}

std::vector<domain::backup_request> backup_request_repository::find_many(unit_of_work& uow,
                                                                         std::span<const std::string> ids,
                                                                         bool lock) const {
  if (ids.empty())
    return {};
  static const std::string plain = "SELECT " + request_columns +
                                   " FROM backup_request WHERE backup_request_id = ANY($1::text[])"
                                   " ORDER BY backup_request_id";
  static const std::string locking = plain + " FOR UPDATE";
  static const std::string plain_name = "bkr_request_find_many";
  static const std::string locking_name = "bkr_request_find_many_for_update";
  return with_database_errors([&] {
    const auto& name = lock ? uow.prepare(locking_name, locking) : uow.prepare(plain_name, plain);
    const auto rows = uow.tx().exec_prepared(name, text_array_literal(ids));
    std::vector<domain::backup_request> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
      out.push_back(to_request(row));
    return out;
  });
}

std::set<std::string> backup_request_repository::update_status_many(
    unit_of_work& uow, std::span<const status_change> changes) const {
  if (changes.empty())
    return {};
  // Each status sets its own columns (see update_status()); the others keep their values. The rows travel as
  // one typed array per column (unnest: no JSON to parse per row). The ids come again as an array ($12) so
  // that the plan reads the batch's rows through the primary key whatever the table's size (unnest is
  // estimated at 100 rows; a generic plan once became a hash join over a sequential scan).
  static const std::string sql = R"sql(
WITH x AS (
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::timestamptz[], $5::text[], $6::text[], $7::text[],
                       $8::timestamptz[], $9::text[], $10::text[], $11::text[])
    AS x(id, f, t, at, st, mid, rsn, ts, pc, sp, rt)),
changed AS (
  UPDATE backup_request b SET status_type_code = x.t,
    accepted_timestamp = CASE WHEN x.t = 'Accepted' THEN x.ts ELSE b.accepted_timestamp END,
    received_timestamp = CASE WHEN x.t = 'Received' THEN x.ts ELSE b.received_timestamp END,
    checked_timestamp = CASE WHEN x.t IN ('Allowed', 'NotAllowed') THEN x.ts ELSE b.checked_timestamp END,
    backup_provider_code = CASE WHEN x.t = 'Allowed' THEN x.pc ELSE b.backup_provider_code END,
    storage_path_name = CASE WHEN x.t = 'Allowed' THEN x.sp ELSE b.storage_path_name END,
    sent_to_interface_timestamp = CASE WHEN x.t = 'Sent' THEN x.ts ELSE b.sent_to_interface_timestamp END,
    reply_timestamp = CASE WHEN x.t IN ('Succeeded', 'Failed') THEN x.ts ELSE b.reply_timestamp END,
    reply_message_text = CASE WHEN x.t IN ('Succeeded', 'Failed') THEN x.rt ELSE b.reply_message_text END
  FROM x WHERE b.backup_request_id = x.id AND b.status_type_code = x.f
    AND b.backup_request_id = ANY($12::text[])
  RETURNING b.backup_request_id, x.f, x.t, x.at, x.st, x.mid, x.rsn),
history AS (
  INSERT INTO backup_request_history (backup_request_id, from_status, to_status, at, stage, message_id, reason)
  SELECT backup_request_id, f, t, at, st, mid, rsn FROM changed ORDER BY backup_request_id)
SELECT backup_request_id FROM changed
)sql";
  static const std::string name = "bkr_request_update_status_many";
  using domain::request_status;
  using column = std::vector<std::optional<std::string>>;
  std::set<std::string> ids;
  column id, from, to, at, stage, message_id, reason, ts, provider, path, reply;
  for (const auto& [updated, expected, entry] : changes) {
    check_change(updated, expected, entry);
    if (!ids.insert(updated.backup_request_id).second)
      throw std::invalid_argument(
          "backup_request_repository::update_status_many: " + updated.backup_request_id + " appears twice");
    std::optional<timestamp> t;
    switch (updated.status_type_code) {
      case request_status::accepted:
        t = updated.accepted_timestamp;
        break;
      case request_status::received:
        t = updated.received_timestamp;
        break;
      case request_status::allowed:
      case request_status::not_allowed:
        t = updated.checked_timestamp;
        break;
      case request_status::sent:
        t = updated.sent_to_interface_timestamp;
        break;
      case request_status::succeeded:
      case request_status::failed:
        t = updated.reply_timestamp;
        break;
    }
    id.emplace_back(updated.backup_request_id);
    from.emplace_back(std::string(status_text(expected)));
    to.emplace_back(std::string(status_text(updated.status_type_code)));
    at.emplace_back(format_timestamp(entry.at));
    stage.emplace_back(entry.stage);
    message_id.push_back(entry.message_id.empty() ? std::nullopt
                                                  : std::optional<std::string>(entry.message_id));
    reason.push_back(entry.reason);
    ts.push_back(t ? std::optional<std::string>(format_timestamp(*t)) : std::nullopt);
    provider.push_back(updated.backup_provider_code ? std::optional<std::string>(std::string(
                                                          domain::to_string(*updated.backup_provider_code)))
                                                    : std::nullopt);
    path.push_back(updated.storage_path_name);
    reply.push_back(updated.reply_message_text);
  }
  return with_database_errors([&] {
    uow.prepare(name, sql);
    return id_set(uow.tx().exec_prepared(
        name, text_array_literal(id), text_array_literal(from), text_array_literal(to),
        text_array_literal(at), text_array_literal(stage), text_array_literal(message_id),
        text_array_literal(reason), text_array_literal(ts), text_array_literal(provider),
        text_array_literal(path), text_array_literal(reply),
        text_array_literal(std::vector<std::string>(ids.begin(), ids.end()))));
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
  // One statement per status: the status and its timestamp column are part of the statement, so that the
  // partial indexes of the statuses the sweep scans (Received, Allowed) serve it.
  auto stalled_sql = [](const char* status_name, const char* column) {
    return "SELECT " + request_columns + " FROM backup_request WHERE status_type_code = '" + status_name +
           "' AND " + column + " < $1::timestamptz ORDER BY " + column + " LIMIT $2::bigint";
  };
  static const std::string by_accepted = stalled_sql("Accepted", "accepted_timestamp");
  static const std::string by_received = stalled_sql("Received", "received_timestamp");
  static const std::string by_checked = stalled_sql("Allowed", "checked_timestamp");
  static const std::string by_sent = stalled_sql("Sent", "sent_to_interface_timestamp");
  static const std::string by_accepted_name = "bkr_request_stalled_accepted_at";
  static const std::string by_received_name = "bkr_request_stalled_received_at";
  static const std::string by_checked_name = "bkr_request_stalled_allowed_at";
  static const std::string by_sent_name = "bkr_request_stalled_sent_at";
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
    const auto rows = uow.tx().exec_prepared(*name, timestamp_param(older_than), limit);
    std::vector<domain::backup_request> out;
    out.reserve(rows.size());
    for (const auto& row : rows)
      out.push_back(to_request(row));
    return out;
  });
}

}  // namespace bkr::storage
