-- One NOTIFY channel per queue: a doorbell wakes only the sessions that LISTEN for that queue, not every
-- listening process of the pipeline. Channel names are identifiers of at most 63 bytes; a queue name (up
-- to 200 characters) longer than fits is cut and followed by a hash of the whole name. The client computes
-- the same name (messaging::postgres::channel_of).
CREATE FUNCTION mq.channel(queue text) RETURNS text LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT CASE WHEN octet_length(queue) <= 56 THEN 'bkr_mq:' || queue
              ELSE 'bkr_mq:' || left(queue, 39) || '#' || left(encode(sha256(convert_to(queue, 'UTF8')), 'hex'), 16)
         END
$$;
