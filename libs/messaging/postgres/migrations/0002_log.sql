-- The log model (libs/messaging/README.md, "Log backend"): a queue is an append-only log read through a
-- committed cursor per partition. Publishing inserts one row; nothing on the hot path updates or deletes a
-- log row. Retries and delays leave the log for the small delay lane; consumed ranges of the log are
-- dropped whole (mq.log_maintain).

-- Orders the rows of one transaction; across transactions the inserting transaction id orders them.
CREATE SEQUENCE mq.log_seq CACHE 100;

-- tx is the top-level id of the inserting transaction. A cursor only passes rows whose tx is below the
-- oldest transaction id still running (the safe watermark), so no row can commit behind a cursor.
CREATE TABLE mq.log (
  queue          text COLLATE "C" NOT NULL,
  part           smallint NOT NULL,
  tx             xid8 NOT NULL DEFAULT pg_current_xact_id(),
  seq            bigint NOT NULL DEFAULT nextval('mq.log_seq'),
  message_id     uuid NOT NULL,
  type           text NOT NULL,
  schema_version integer NOT NULL,
  key            text NOT NULL,
  occurred_at    timestamptz NOT NULL,
  trace_id       text NOT NULL DEFAULT '',
  producer       text NOT NULL DEFAULT '',
  payload        json NOT NULL,
  enqueued_at    timestamptz NOT NULL DEFAULT now()
) PARTITION BY RANGE (tx);
CREATE INDEX log_position ON mq.log (queue, part, tx, seq);
-- Catches rows whose range partition was not created in time (mq.log_maintain creates them ahead), so a
-- publish never fails for want of a partition. Normally empty.
CREATE TABLE mq.log_default PARTITION OF mq.log DEFAULT WITH (autovacuum_enabled = false);

-- How many partitions (by key hash) each queue has; a queue without a row has one. Only ever grows.
CREATE TABLE mq.log_queues (
  queue      text COLLATE "C" PRIMARY KEY,
  partitions smallint NOT NULL CHECK (partitions BETWEEN 1 AND 256),
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One committed cursor per (queue, partition): the position (tx, seq) of the last row consumed. Moved by a
-- compare-and-set in the consumer's batch transaction: the fence. Updates are HOT (no indexed column
-- changes). tries counts deliveries of the head row by consumers that took the partition over and died.
CREATE TABLE mq.cursors (
  queue     text COLLATE "C" NOT NULL,
  part      smallint NOT NULL,
  tx        xid8 NOT NULL DEFAULT '0',
  seq       bigint NOT NULL DEFAULT 0,
  tries     integer NOT NULL DEFAULT 0,
  processed bigint NOT NULL DEFAULT 0,
  moved_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, part)
) WITH (fillfactor = 20);

-- Off the log: retries (run_at = backoff), delayed publishes and redriven dead letters. Small; rows are
-- deleted when they are consumed.
CREATE TABLE mq.delayed (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  queue          text COLLATE "C" NOT NULL,
  part           smallint NOT NULL,
  run_at         timestamptz NOT NULL,
  attempts       integer NOT NULL DEFAULT 0,  -- attempts spent so far; the next delivery is attempts + 1
  message_id     uuid NOT NULL,
  type           text NOT NULL,
  schema_version integer NOT NULL,
  key            text NOT NULL,
  occurred_at    timestamptz NOT NULL,
  trace_id       text NOT NULL DEFAULT '',
  producer       text NOT NULL DEFAULT '',
  payload        json NOT NULL,
  first_seen     timestamptz NOT NULL DEFAULT now(),
  last_error     text NOT NULL DEFAULT ''
) WITH (autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 100);
CREATE INDEX delayed_due ON mq.delayed (queue, part, run_at);

-- Retention: creates the range partitions of mq.log ahead of the transaction ids in use, and drops each
-- partition that no transaction can still insert into and that every cursor has passed. A partition that
-- holds a row of a (queue, partition) without a cursor, or behind one, is kept. DDL waits at most
-- 100 ms for its lock and is retried by the next call; one session at a time does the work. Returns the
-- number of partitions dropped.
CREATE FUNCTION mq.log_maintain(width bigint DEFAULT 1048576) RETURNS integer
LANGUAGE plpgsql AS $fn$
DECLARE
  horizon bigint := pg_snapshot_xmin(pg_current_snapshot())::text::bigint;
  top     bigint := pg_snapshot_xmax(pg_current_snapshot())::text::bigint;
  lo      bigint;
  hi      bigint;
  last_hi bigint;
  dropped integer := 0;
  p       record;
  name    text;
BEGIN
  IF NOT pg_try_advisory_xact_lock(hashtext('bkr_mq_log_maintain')) THEN
    RETURN 0;  -- another session is at it
  END IF;
  PERFORM set_config('lock_timeout', '100ms', true);
  SELECT max(substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''(\d+)''\)')::bigint)
    INTO last_hi
    FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
   WHERE i.inhparent = 'mq.log'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT';
  lo := coalesce(last_hi, (top / width) * width);
  -- Rows that fell into the default partition must not overlap a new range.
  lo := greatest(lo, coalesce((SELECT max(tx)::text::bigint + 1 FROM mq.log_default), 0));
  WHILE lo < top + 2 * width LOOP
    hi := (lo / width + 1) * width;
    name := format('log_%s', lo);
    BEGIN
      EXECUTE format('CREATE TABLE mq.%I (LIKE mq.log INCLUDING DEFAULTS) WITH (autovacuum_enabled = false)', name);
      EXECUTE format('ALTER TABLE mq.log ATTACH PARTITION mq.%I FOR VALUES FROM (%L) TO (%L)', name, lo, hi);
    EXCEPTION WHEN lock_not_available THEN
      RETURN dropped;
    END;
    lo := hi;
  END LOOP;
  FOR p IN
    SELECT c.oid::regclass AS rel,
           substring(pg_get_expr(c.relpartbound, c.oid) FROM 'TO \(''(\d+)''\)')::bigint AS upper
      FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
     WHERE i.inhparent = 'mq.log'::regclass AND pg_get_expr(c.relpartbound, c.oid) <> 'DEFAULT'
     ORDER BY 2
  LOOP
    EXIT WHEN p.upper > horizon;  -- a running transaction may still insert into it
    EXECUTE format(
      'SELECT EXISTS (SELECT 1 FROM (SELECT DISTINCT ON (queue, part) queue, part, tx, seq FROM %s
                                      ORDER BY queue, part, tx DESC, seq DESC) l
         WHERE NOT EXISTS (SELECT 1 FROM mq.cursors c WHERE c.queue = l.queue AND c.part = l.part
                             AND (c.tx, c.seq) >= (l.tx, l.seq)))', p.rel) INTO STRICT name;
    EXIT WHEN name::boolean;  -- not consumed yet
    BEGIN
      EXECUTE format('DROP TABLE %s', p.rel);
      dropped := dropped + 1;
    EXCEPTION WHEN lock_not_available THEN
      RETURN dropped;
    END;
  END LOOP;
  RETURN dropped;
END
$fn$;

SELECT mq.log_maintain();
