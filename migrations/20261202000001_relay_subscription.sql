-- The relay follows the log like every other subscriber: its checkpoint is
-- the `relay` row of `subscriptions`, moved by compare-and-set, and its
-- leader is whoever holds that subscription's lease. One follower, one
-- lease, one checkpoint discipline (`bus::log_source`); `relay_checkpoint`,
-- which a running relay overwrote after `stockroom republish` rewound it,
-- is gone.
INSERT INTO subscriptions (name, transaction_id, position, settled, handled_events, updated_at)
SELECT 'relay', transaction_id, position, settled, published_events, updated_at
FROM relay_checkpoint
ON CONFLICT (name) DO NOTHING;

DROP TABLE relay_checkpoint;

-- Per partition, the last event in commit order a Kafka consumer group has
-- handled (a partition carries its events in commit order, so everything of
-- it at or before this cursor is handled). `stockroom republish` forgets the
-- offsets (a broker that lost its data starts its topics at 0 again) but
-- keeps this, so a group skips what it handled before however old it is,
-- not only within the retention of `processed_events`.
ALTER TABLE consumer_offsets
    ADD COLUMN handled_transaction xid8 NOT NULL DEFAULT '0',
    ADD COLUMN handled_position bigint NOT NULL DEFAULT 0;

CREATE OR REPLACE FUNCTION log_from_another_cluster() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM events WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM subscriptions WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM consumer_offsets WHERE handled_transaction >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM stock_levels WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
    )
$$;

-- As in `20261201000003_rebase_restored_log.sql`, with the cursors in
-- `subscriptions` and the Kafka groups' handled cursors.
CREATE OR REPLACE FUNCTION rebase_restored_log() RETURNS bigint
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    next_id xid8 := pg_snapshot_xmax(pg_current_snapshot());
    renumbered bigint;
    segments integer;
BEGIN
    IF NOT log_from_another_cluster() THEN
        RETURN 0;
    END IF;
    -- Nothing may append, read a cursor or move one meanwhile.
    LOCK TABLE events, subscriptions, consumer_offsets, stock_levels IN EXCLUSIVE MODE;

    CREATE TEMP TABLE rebase_cuts ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY transaction_id, position) AS segment,
               transaction_id, position
        FROM (
            SELECT transaction_id, position FROM subscriptions WHERE transaction_id <> '0'
            UNION
            SELECT handled_transaction, handled_position FROM consumer_offsets
            WHERE handled_transaction <> '0'
        ) AS cursors;
    SELECT count(*) INTO segments FROM rebase_cuts;
    -- Ids 3 .. 3 + segments must all lie below the ids this cluster hands out.
    IF (3 + segments + 1)::text::bigint >= next_id::text::bigint THEN
        RAISE EXCEPTION 'this cluster has handed out too few transaction ids (%) to rebase % cursors; run any % transactions and migrate again',
            next_id, segments, segments + 4;
    END IF;

    -- An event's segment: how many cursors lie strictly before it.
    UPDATE events AS e
       SET transaction_id = (3 + (
               SELECT count(*) FROM rebase_cuts AS c
               WHERE (c.transaction_id, c.position) < (e.transaction_id, e.position)
           ))::text::xid8;
    GET DIAGNOSTICS renumbered = ROW_COUNT;

    -- A cursor that closed segment i keeps covering segments 0 .. i-1: the
    -- last event of segment i-1 (or, if it is empty, the start of segment i).
    UPDATE subscriptions AS s
       SET transaction_id = (3 + c.segment - 1)::text::xid8,
           position = coalesce((SELECT max(e.position) FROM events AS e
                                WHERE e.transaction_id = (3 + c.segment - 1)::text::xid8), 0)
      FROM rebase_cuts AS c
     WHERE (s.transaction_id, s.position) = (c.transaction_id, c.position);
    UPDATE consumer_offsets AS o
       SET handled_transaction = (3 + c.segment - 1)::text::xid8,
           handled_position = coalesce((SELECT max(e.position) FROM events AS e
                                        WHERE e.transaction_id = (3 + c.segment - 1)::text::xid8), 0)
      FROM rebase_cuts AS c
     WHERE (o.handled_transaction, o.handled_position) = (c.transaction_id, c.position);

    UPDATE stock_levels AS l
       SET transaction_id = e.transaction_id
      FROM events AS e
     WHERE e.position = l.last_position;
    RETURN renumbered;
END
$$;

-- How many live sessions of this database hold the session-level advisory
-- lock `key` (a bigint key shows in pg_locks as its two halves).
CREATE FUNCTION advisory_lock_holders(key bigint) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT count(*)
    FROM pg_locks AS l
    WHERE l.locktype = 'advisory'
      AND l.granted
      AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
      AND l.objsubid = 1
      AND l.classid = ((key >> 32) & 4294967295)::oid
      AND l.objid = (key & 4294967295)::oid
$$;

-- How many hold the lease of a subscription (`store::subscription::Lease`):
-- 1 for a log follower that is active, the members for a Kafka consumer
-- group, 0 when nobody follows it.
CREATE FUNCTION subscription_lease_holders(subscription text) RETURNS bigint
LANGUAGE sql STABLE AS $$
    SELECT advisory_lock_holders(hashtextextended('stockroom-subscription:' || subscription, 0))
$$;

CREATE OR REPLACE FUNCTION rebuild_running(projection text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT advisory_lock_holders(hashtextextended('stockroom-rebuild:' || projection, 0)) > 0
$$;
