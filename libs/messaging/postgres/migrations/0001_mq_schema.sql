-- The durable queue: a small hot table of ready and leased messages, dead letters, de-duplication keys,
-- per-queue flags and per-consumer counters. Finished messages are deleted from the hot table at once.
CREATE SCHEMA IF NOT EXISTS mq;

-- leased_until IS NULL: ready (run_at <= now()) or delayed (run_at > now()); otherwise leased.
-- fence is bumped by every claim, expiry and hand-back; later writes must present the value they saw.
CREATE TABLE mq.messages (
  message_id     uuid PRIMARY KEY,
  queue          text NOT NULL,
  priority       smallint NOT NULL DEFAULT 0,
  run_at         timestamptz NOT NULL DEFAULT now(),
  leased_until   timestamptz,
  lease_owner    text,
  fence          bigint NOT NULL DEFAULT 0,
  attempt        integer NOT NULL DEFAULT 0,
  type           text NOT NULL,
  schema_version integer NOT NULL,
  key            text NOT NULL,
  occurred_at    timestamptz NOT NULL,
  trace_id       text NOT NULL DEFAULT '',
  producer       text NOT NULL DEFAULT '',
  -- json, not jsonb: the queue never looks inside a payload, and json stores the producer's text as
  -- validated (no binary conversion on enqueue, none back to text on claim).
  payload        json NOT NULL,
  dedup_key      text,
  enqueued_at    timestamptz NOT NULL DEFAULT now(),
  last_error     text
) WITH (fillfactor = 80,
        autovacuum_vacuum_scale_factor = 0.01, autovacuum_vacuum_threshold = 500,
        autovacuum_analyze_scale_factor = 0.02, autovacuum_vacuum_cost_delay = 0);

-- The claim reads only this partial index: O(batch) rows however many are leased.
CREATE INDEX messages_ready ON mq.messages (queue, priority DESC, run_at, message_id) WHERE leased_until IS NULL;
-- The reaper finds expired leases per queue. The queue leads the key: an index on leased_until alone makes
-- every queue's reaper walk the not yet vacuumed entries of all queues' finished messages.
CREATE INDEX messages_leased ON mq.messages (queue, leased_until) WHERE leased_until IS NOT NULL;

-- A (queue, dedup_key) seen once makes later publishes with it no-ops, also after the first message
-- finished. Insert-only; rows older than the retention are deleted by the consumers' maintenance.
CREATE TABLE mq.dedup_keys (
  queue      text NOT NULL,
  dedup_key  text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, dedup_key)
);
CREATE INDEX dedup_keys_created ON mq.dedup_keys (created_at);

CREATE TABLE mq.dead_letters (
  message_id     uuid PRIMARY KEY,
  queue          text NOT NULL,
  priority       smallint NOT NULL,
  type           text NOT NULL,
  schema_version integer NOT NULL,
  key            text NOT NULL,
  occurred_at    timestamptz NOT NULL,
  trace_id       text NOT NULL,
  producer       text NOT NULL,
  payload        json NOT NULL,
  dedup_key      text,
  attempts       integer NOT NULL,
  reason         text NOT NULL,
  last_error     text NOT NULL DEFAULT '',
  first_seen     timestamptz NOT NULL,
  last_seen      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dead_letters_queue ON mq.dead_letters (queue, last_seen);

CREATE TABLE mq.queues (
  queue      text PRIMARY KEY,
  paused     boolean NOT NULL DEFAULT false,
  updated_at timestamptz NOT NULL DEFAULT now()
);

-- One row per consumer instance, so concurrent consumers never wait on each other's counter row.
CREATE TABLE mq.counters (
  queue         text NOT NULL,
  consumer      text NOT NULL,
  processed     bigint NOT NULL DEFAULT 0,
  retried       bigint NOT NULL DEFAULT 0,
  dead_lettered bigint NOT NULL DEFAULT 0,
  updated_at    timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (queue, consumer)
);
