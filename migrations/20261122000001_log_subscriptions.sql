-- Internal workers follow the log of record in Postgres (not Kafka).

-- Every position is handed out by a transaction that already has its id, so
-- "every position up to L is settled" can be decided from snapshots alone:
-- read the sequence, then take a snapshot; once the horizon (xmin) of a later
-- snapshot passes that snapshot's xmax, every transaction that could hold a
-- position up to L has ended. Without this, nextval() could run before
-- pg_current_xact_id() assigned the id, and the writer would be invisible to
-- the rule for a moment.
CREATE FUNCTION next_event_position() RETURNS bigint
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_current_xact_id();
    RETURN nextval('events_position_seq');
END
$$;
ALTER TABLE events ALTER COLUMN position SET DEFAULT next_event_position();

-- Where each subscription of the log (a worker, a projection) has read to,
-- in commit order. Written in the transaction of the effects it accounts
-- for, and only if it still holds the value the writer started from, so a
-- worker that lost its lease cannot move it.
CREATE TABLE subscriptions (
    name            text        PRIMARY KEY,
    transaction_id  xid8        NOT NULL DEFAULT '0',
    position        bigint      NOT NULL DEFAULT 0,
    settled         bigint      NOT NULL DEFAULT 0,
    handled_events  bigint      NOT NULL DEFAULT 0,
    updated_at      timestamptz NOT NULL DEFAULT now()
);

-- The relay's commit-safe high-water mark: every event at or below it has
-- been published. Kafka-fed projections cap their position with it.
ALTER TABLE relay_checkpoint ADD COLUMN settled bigint NOT NULL DEFAULT 0;

-- Retention jobs delete by age in small batches.
CREATE INDEX processed_events_processed_at_idx ON processed_events (processed_at);
CREATE INDEX parked_events_retried_at_idx ON parked_events (retried_at) WHERE retried_at IS NOT NULL;

-- One round trip for a reader's horizon: the last position handed out, read
-- *before* the snapshot whose bounds are returned (a volatile function takes
-- a new snapshot per statement), which is the order the settling rule needs.
CREATE FUNCTION log_horizon(OUT last_position bigint, OUT xmin xid8, OUT xmax xid8)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT CASE WHEN is_called THEN last_value ELSE 0 END INTO last_position
    FROM events_position_seq;
    SELECT pg_snapshot_xmin(s), pg_snapshot_xmax(s) INTO xmin, xmax
    FROM pg_current_snapshot() AS s;
END
$$;
