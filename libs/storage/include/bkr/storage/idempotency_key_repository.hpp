// The first answer given to each (client, Idempotency-Key), replayed to repeats.
#pragma once

#include "bkr/common/clock.hpp"
#include "bkr/storage/unit_of_work.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace bkr::storage {

/// What was answered to the first request carrying a key, and what that request was.
struct idempotent_response {
  std::string backup_request_id;
  int status_code = 202;
  nlohmann::json body;
  /// Fingerprint of the first request's payload (64 lower-case hex digits); nullopt for keys recorded
  /// before fingerprints were stored.
  std::optional<std::string> request_fingerprint{};

  friend bool operator==(const idempotent_response&, const idempotent_response&) = default;
};

/// The outcome of recording a key: the stored answer and whether this call stored it.
struct idempotency_claim {
  idempotent_response response;
  bool inserted = false;
};

/// Reads and writes `idempotency_key` inside the caller's unit of work; never commits. Stateless; shareable.
class idempotency_key_repository {
 public:
  std::optional<idempotent_response> find(unit_of_work& uow, std::string_view client_id,
                                          std::string_view key) const;

  /// Stores `response` for (client_id, key) unless an answer is stored already; returns the stored answer,
  /// which is the first one. A concurrent duplicate waits for the first transaction: if it commits, the
  /// duplicate gets the first answer (inserted = false); if it rolls back, the duplicate's answer is stored.
  idempotency_claim insert_if_absent(unit_of_work& uow, std::string_view client_id, std::string_view key,
                                     const idempotent_response& response) const;

  /// Deletes keys recorded before `cutoff` (they are only kept for a replay window); returns how many.
  std::int64_t purge_older_than(unit_of_work& uow, timestamp cutoff) const;
};

}  // namespace bkr::storage
