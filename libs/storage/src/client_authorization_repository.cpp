// SQL for client_authorization; scopes cross the wire as a JSON array (libpqxx 6 has no array parameters).
#include "bkr/storage/client_authorization_repository.hpp"

#include <nlohmann/json.hpp>

#include <stdexcept>

namespace bkr::storage {

std::optional<std::set<std::string>> client_authorization_repository::find_scopes(
    unit_of_work& uow, std::string_view client_id) const {
  static const std::string name = "bkr_client_scopes";
  static const std::string sql =
      "SELECT to_jsonb(scopes)::text FROM client_authorization WHERE client_id = $1";
  return with_database_errors([&]() -> std::optional<std::set<std::string>> {
    uow.prepare(name, sql);
    const auto rows = uow.tx().exec_prepared(name, std::string(client_id));
    if (rows.empty())
      return std::nullopt;
    const auto scopes = nlohmann::json::parse(rows[0][0].c_str());
    if (!scopes.is_array())
      throw std::runtime_error("client_authorization.scopes is not a list");
    std::set<std::string> out;
    for (const auto& scope : scopes)
      out.insert(scope.get<std::string>());
    return out;
  });
}

void client_authorization_repository::upsert(unit_of_work& uow, std::string_view client_id,
                                             const std::set<std::string>& scopes) const {
  static const std::string name = "bkr_client_upsert";
  static const std::string sql =
      "INSERT INTO client_authorization (client_id, scopes)"
      " VALUES ($1, ARRAY(SELECT jsonb_array_elements_text($2::jsonb) ORDER BY 1))"
      " ON CONFLICT (client_id) DO UPDATE SET scopes = EXCLUDED.scopes, updated_at = now()";
  const nlohmann::json list(scopes);
  with_database_errors([&] {
    uow.prepare(name, sql);
    uow.tx().exec_prepared(name, std::string(client_id), list.dump());
  });
}

}  // namespace bkr::storage
