-- The log of record. One row per event; position is global, stream_version
-- is per stream and unique with it, so two writers deciding on the same
-- version cannot both append (optimistic concurrency).
--
-- transaction_id is the writer's transaction. A bigserial position is taken at
-- insert but becomes visible at commit, so readers that must not skip late
-- commits (the relay, rebuilds) read in (transaction_id, position) order and
-- only below pg_snapshot_xmin(pg_current_snapshot()): every transaction below
-- that horizon has finished, so nothing can appear behind the reader later.
CREATE TABLE events (
    position        bigserial   PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT pg_current_xact_id(),
    event_id        uuid        NOT NULL,
    stream_id       text        NOT NULL,
    category        text        NOT NULL CHECK (category IN ('product', 'stock', 'order')),
    aggregate_id    text        NOT NULL,
    stream_version  bigint      NOT NULL CHECK (stream_version > 0),
    event_type      text        NOT NULL,
    schema_version  integer     NOT NULL,
    data            jsonb       NOT NULL,
    correlation_id  uuid        NOT NULL,
    causation_id    uuid,
    actor           text,
    occurred_at     timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT events_event_id_key UNIQUE (event_id),
    CONSTRAINT events_stream_version_key UNIQUE (stream_id, stream_version)
);

CREATE INDEX events_commit_order_idx ON events (transaction_id, position);

-- Wakes the relay at commit (notifications are delivered only when the
-- inserting transaction commits, once per transaction). A hint only: the relay
-- also polls.
CREATE FUNCTION notify_events_appended() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stockroom_events', '');
    RETURN NULL;
END
$$;

CREATE TRIGGER events_appended
    AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION notify_events_appended();

-- Idempotency-Key: the first request with a key stores its fingerprint and,
-- in the same transaction as its events, its response.
CREATE TABLE idempotency_keys (
    key              text        PRIMARY KEY,
    fingerprint      bytea       NOT NULL,
    status_code      smallint    NOT NULL,
    response_body    jsonb       NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX idempotency_keys_created_at_idx ON idempotency_keys (created_at);
