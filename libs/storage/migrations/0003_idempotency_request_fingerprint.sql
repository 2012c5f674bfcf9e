-- What each Idempotency-Key was first used for: a fingerprint (hex SHA-256) of the request's canonical
-- fields, so that the key sent again with another payload is told apart from a repeat (IETF
-- Idempotency-Key draft: 422). Keys recorded before this column have none and are replayed as before.
ALTER TABLE idempotency_key
  ADD COLUMN request_fingerprint text CHECK (request_fingerprint ~ '^[0-9a-f]{64}$');
