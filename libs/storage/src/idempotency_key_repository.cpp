// SQL for idempotency_key: the first answer per (client, key) wins and is what every repeat gets.
#include "bkr/storage/idempotency_key_repository.hpp"

#include "sql_values.hpp"

#include <string>

namespace bkr::storage {

namespace {

idempotent_response to_response(const pqxx::row& row) {
  idempotent_response r;
  r.backup_request_id = row[0].as<std::string>();
  r.status_code = row[1].as<int>();
  r.body = nlohmann::json::parse(row[2].c_str());
  r.request_fingerprint = detail::optional_text_field(row[3]);
  return r;
}

}  // namespace

std::optional<idempotent_response> idempotency_key_repository::find(unit_of_work& uow,
                                                                    std::string_view client_id,
                                                                    std::string_view key) const {
  static const std::string name = "bkr_idempotency_find";
  static const std::string sql =
      "SELECT backup_request_id, response_status_code, response_body::text, request_fingerprint"
      " FROM idempotency_key"
      " WHERE client_id = $1 AND idempotency_key = $2";
  return with_database_errors([&]() -> std::optional<idempotent_response> {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(name, std::string(client_id), std::string(key));
    if (rows.empty())
      return std::nullopt;
    return to_response(rows[0]);
  });
}

idempotency_claim idempotency_key_repository::insert_if_absent(unit_of_work& uow, std::string_view client_id,
                                                               std::string_view key,
                                                               const idempotent_response& response) const {
  static const std::string name = "bkr_idempotency_insert";
  static const std::string sql =
      "INSERT INTO idempotency_key (client_id, idempotency_key, backup_request_id, response_status_code,"
      " response_body, request_fingerprint) VALUES ($1, $2, $3, $4, $5::jsonb, $6)"
      " ON CONFLICT (client_id, idempotency_key) DO NOTHING"
      " RETURNING backup_request_id, response_status_code, response_body::text, request_fingerprint";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(
        name, std::string(client_id), std::string(key), response.backup_request_id, response.status_code,
        response.body.dump(), detail::text_param(response.request_fingerprint));
    if (!rows.empty())
      return idempotency_claim{to_response(rows[0]), true};
    // The conflicting row is committed (ON CONFLICT waited for its transaction), and under READ COMMITTED
    // this next statement's snapshot sees it.
    auto first = find(uow, client_id, key);
    if (!first) {
      throw std::runtime_error(
          "idempotency key conflicted but its row is not visible (isolation above READ "
          "COMMITTED?)");
    }
    return idempotency_claim{std::move(*first), false};
  });
}

std::int64_t idempotency_key_repository::purge_older_than(unit_of_work& uow, timestamp cutoff) const {
  static const std::string name = "bkr_idempotency_purge";
  static const std::string sql = "DELETE FROM idempotency_key WHERE created_at < $1::timestamptz";
  return with_database_errors([&] {
    uow.prepare(name, sql);
    return static_cast<std::int64_t>(
        uow.tx().exec_prepared(name, detail::timestamp_param(cutoff)).affected_rows());
  });
}

}  // namespace bkr::storage
