-- The job table (mq.messages with its de-duplication keys) gives way to the log: every queue is read from
-- mq.log through its cursors. Messages still in the job table when this runs (the workers of the old
-- release should be stopped first; a message one of them had leased is handed back here) move to the
-- delay lane, due now with the attempts they had spent, so that nothing waiting is lost.
INSERT INTO mq.delayed (queue, part, run_at, attempts, message_id, type, schema_version, key, occurred_at,
                        trace_id, producer, payload, first_seen, last_error)
SELECT m.queue,
       mod(hashtext(m.key)::bigint + 2147483648,
           coalesce((SELECT lq.partitions FROM mq.log_queues lq WHERE lq.queue = m.queue), 1))::smallint,
       greatest(m.run_at, now()), m.attempt, m.message_id, m.type, m.schema_version, m.key, m.occurred_at,
       m.trace_id, m.producer, m.payload, m.enqueued_at, coalesce(m.last_error, '')
FROM mq.messages m;

DROP TABLE mq.messages;
DROP TABLE mq.dedup_keys;

-- Dead letters no longer carry what only the job table used.
ALTER TABLE mq.dead_letters DROP COLUMN priority, DROP COLUMN dedup_key;
