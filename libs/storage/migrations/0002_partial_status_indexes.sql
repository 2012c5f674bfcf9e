-- The recovery sweep scans requests waiting at Received and at Allowed. Indexes on (status, timestamp)
-- took an entry for every status change of every request; partial indexes take one only while a request
-- sits at the status they serve, so the hot status updates of the pipeline write two index entries less.
DROP INDEX backup_request_received_idx;
DROP INDEX backup_request_checked_idx;
CREATE INDEX backup_request_received_idx ON backup_request (received_timestamp)
  WHERE status_type_code = 'Received';
CREATE INDEX backup_request_allowed_idx ON backup_request (checked_timestamp)
  WHERE status_type_code = 'Allowed';
