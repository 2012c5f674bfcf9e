-- The history is append-only and written only in the transaction that changes its request's status (the
-- compare-and-set on backup_request decides whether a row is written at all), so every history row has
-- its request by construction; the fault suite audits it (every journey complete, each transition once).
-- The foreign key cost a referential check per history row: a row lock on the request and a lookup in its
-- primary key, on the hottest statement of every stage.
ALTER TABLE backup_request_history DROP CONSTRAINT backup_request_history_backup_request_id_fkey;
