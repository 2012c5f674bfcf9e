// Scopes granted to API clients (client_authorization table), keyed by the JWT `sub`.
#pragma once

#include "bkr/storage/unit_of_work.hpp"

#include <optional>
#include <set>
#include <string>
#include <string_view>

namespace bkr::storage {

/// Reads and writes `client_authorization` inside the caller's unit of work; never commits. Stateless;
/// shareable.
class client_authorization_repository {
 public:
  /// The client's scopes, or nullopt for an unknown client (a known client may have none).
  std::optional<std::set<std::string>> find_scopes(unit_of_work& uow, std::string_view client_id) const;
  /// Sets the client's scopes, creating the client if needed. Only the scopes of DOMAIN.md are accepted
  /// (bkr::domain::scope_*); anything else is refused by the schema (pqxx::check_violation).
  void upsert(unit_of_work& uow, std::string_view client_id, const std::set<std::string>& scopes) const;
};

}  // namespace bkr::storage
