-- Domain tables: backup requests and their append-only history, backups, the local backup job registry,
-- client authorizations and idempotency keys. Field rules follow DOMAIN.md and proto/messages: ids are 1..50
-- printable ASCII characters (UUIDv7 text in practice), so they are stored as the text they arrive as.

CREATE TABLE backup_request (
  backup_request_id text PRIMARY KEY CHECK (backup_request_id ~ '^[!-~]{1,50}$'),
  backup_job_id text NOT NULL CHECK (backup_job_id ~ '^[!-~]{1,50}$'),
  data_date date NOT NULL,
  prepared_data_path_name text NOT NULL CHECK (char_length(prepared_data_path_name) BETWEEN 1 AND 250),
  get_on_start_flag boolean NOT NULL,
  transport_type_code text NOT NULL CHECK (transport_type_code IN ('HTTP', 'Queue')),
  status_type_code text NOT NULL CHECK (status_type_code IN
    ('Accepted', 'Received', 'Allowed', 'NotAllowed', 'Sent', 'Succeeded', 'Failed')),
  requester_id text NOT NULL CHECK (char_length(requester_id) <= 256),
  backup_provider_code text CHECK (backup_provider_code IN ('Local', 'CloudA', 'CloudB')),
  storage_path_name text CHECK (char_length(storage_path_name) <= 250),
  accepted_timestamp timestamptz(3),
  received_timestamp timestamptz(3),
  checked_timestamp timestamptz(3),
  sent_to_interface_timestamp timestamptz(3),
  reply_timestamp timestamptz(3),
  reply_message_text text CHECK (char_length(reply_message_text) <= 250)
);

-- Recovery of stalled requests scans one status, oldest first.
CREATE INDEX backup_request_received_idx ON backup_request (status_type_code, received_timestamp);
CREATE INDEX backup_request_checked_idx ON backup_request (status_type_code, checked_timestamp);

-- One row per transition: the audit trail and the proof that each transition happened exactly once.
CREATE TABLE backup_request_history (
  history_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  backup_request_id text NOT NULL REFERENCES backup_request (backup_request_id),
  from_status text CHECK (from_status IN
    ('Accepted', 'Received', 'Allowed', 'NotAllowed', 'Sent', 'Succeeded', 'Failed')),
  to_status text NOT NULL CHECK (to_status IN
    ('Accepted', 'Received', 'Allowed', 'NotAllowed', 'Sent', 'Succeeded', 'Failed')),
  at timestamptz(3) NOT NULL,
  stage text NOT NULL CHECK (char_length(stage) BETWEEN 1 AND 64),
  message_id text CHECK (char_length(message_id) BETWEEN 1 AND 200),
  reason text CHECK (char_length(reason) <= 250)
);

CREATE INDEX backup_request_history_request_idx ON backup_request_history (backup_request_id, history_id);

CREATE FUNCTION backup_request_history_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'backup_request_history is append-only: % is not allowed', TG_OP
    USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER backup_request_history_no_update_or_delete
  BEFORE UPDATE OR DELETE ON backup_request_history
  FOR EACH ROW EXECUTE FUNCTION backup_request_history_append_only();

CREATE TRIGGER backup_request_history_no_truncate
  BEFORE TRUNCATE ON backup_request_history
  FOR EACH STATEMENT EXECUTE FUNCTION backup_request_history_append_only();

-- At most one Backup per request (DOMAIN.md: a Backup's existence wins).
CREATE TABLE backup (
  backup_id text PRIMARY KEY CHECK (backup_id ~ '^[!-~]{1,50}$'),
  backup_request_id text NOT NULL UNIQUE REFERENCES backup_request (backup_request_id),
  backup_job_id text NOT NULL CHECK (backup_job_id ~ '^[!-~]{1,50}$'),
  data_date date NOT NULL,
  storage_path_name text NOT NULL CHECK (char_length(storage_path_name) BETWEEN 1 AND 250),
  backup_provider_code text NOT NULL CHECK (backup_provider_code IN ('Local', 'CloudA', 'CloudB')),
  days_to_keep_count integer NOT NULL CHECK (days_to_keep_count >= 0),
  hold_flag boolean NOT NULL,
  backup_byte_count bigint NOT NULL CHECK (backup_byte_count >= 0),
  copy_start_timestamp timestamptz(3) NOT NULL,
  copy_end_timestamp timestamptz(3) NOT NULL,
  verify_start_timestamp timestamptz(3),
  verify_end_timestamp timestamptz(3),
  verify_hash_text text CHECK (char_length(verify_hash_text) <= 512),
  due_to_delete_date date NOT NULL,
  deleted_timestamp timestamptz(3)
);

-- The local registry of backup jobs (the job service's read model when it runs in-process).
CREATE TABLE backup_job (
  backup_job_id text PRIMARY KEY CHECK (backup_job_id ~ '^[!-~]{1,50}$'),
  storage_path_name text NOT NULL CHECK (char_length(storage_path_name) <= 250),
  backup_provider_code text NOT NULL CHECK (backup_provider_code IN ('Local', 'CloudA', 'CloudB')),
  days_to_keep integer NOT NULL CHECK (days_to_keep >= 0),
  is_active boolean NOT NULL,
  hold_flag boolean NOT NULL,
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);

-- Scopes per client (JWT `sub`); only the scopes DOMAIN.md defines.
CREATE TABLE client_authorization (
  client_id text PRIMARY KEY CHECK (char_length(client_id) BETWEEN 1 AND 256),
  scopes text[] NOT NULL DEFAULT '{}' CHECK (
    scopes <@ ARRAY['post-backup-request', 'get-backup-request', 'post-store-status', 'admin']::text[]
    AND coalesce(array_ndims(scopes), 1) = 1),
  updated_at timestamptz(3) NOT NULL DEFAULT now()
);

-- The first answer to an Idempotency-Key, replayed to repeats from the same client. No foreign key: the
-- request row is written later, by CreateRequest.
CREATE TABLE idempotency_key (
  client_id text NOT NULL CHECK (char_length(client_id) BETWEEN 1 AND 256),
  idempotency_key text NOT NULL CHECK (idempotency_key ~ '^[ -~]{1,128}$'),
  backup_request_id text NOT NULL CHECK (backup_request_id ~ '^[!-~]{1,50}$'),
  response_status_code integer NOT NULL CHECK (response_status_code BETWEEN 100 AND 599),
  response_body jsonb NOT NULL,
  created_at timestamptz(3) NOT NULL DEFAULT now(),
  PRIMARY KEY (client_id, idempotency_key)
);

CREATE INDEX idempotency_key_created_idx ON idempotency_key (created_at);
