-- A database moved with pg_dump / pg_restore (or any logical copy) keeps the
-- transaction ids the old cluster gave its writers: in `events`, in every
-- cursor (`subscriptions`, `relay_checkpoint`) and in `stock_levels`. The
-- new cluster hands out ids from its own, usually far lower, counter, so its
-- appends sorted *before* the restored log and below every cursor: no
-- follower ever read them, orders were never decided, and receipts failed
-- the commit-order check for ever, with no error anywhere.
--
-- `rebase_restored_log()` detects such a copy (a stored id at or past the
-- cluster's next one) and renumbers the stored ids into the lowest normal
-- ids, keeping every ordering that anything relies on:
--
-- * the restored events are cut into segments at the cursors stored beside
--   them, in commit order; segment i gets id 3 + i, so each cursor still
--   divides the log exactly where it did, and everything restored sorts
--   before anything the new cluster writes;
-- * within a segment the events keep position order, which respects every
--   stream's version order (a writer sees the stream's previous event
--   committed before it takes its own position), so per-aggregate order
--   holds; only the interleaving of different streams inside one segment
--   may change, and nothing depends on it;
-- * each `stock_levels` row takes the new id of its last event.
--
-- `stockroom migrate` calls it after the migrations; it returns how many
-- events it renumbered (0 when the ids belong to this cluster). Run it
-- before starting the processes (they refuse to start on a copy not yet
-- rebased, see `store::db::check_cluster_ids`).
-- Whether any stored transaction id is at or past the next one this cluster
-- hands out: a logical copy not yet rebased. One definition, for the rebase
-- and for the followers' check (`store::db::check_cluster_ids`).
CREATE FUNCTION log_from_another_cluster() RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1 FROM events WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM subscriptions WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM relay_checkpoint WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
        UNION ALL SELECT 1 FROM stock_levels WHERE transaction_id >= pg_snapshot_xmax(pg_current_snapshot())
    )
$$;

CREATE FUNCTION rebase_restored_log() RETURNS bigint
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
    LOCK TABLE events, subscriptions, relay_checkpoint, stock_levels IN EXCLUSIVE MODE;

    CREATE TEMP TABLE rebase_cuts ON COMMIT DROP AS
        SELECT row_number() OVER (ORDER BY transaction_id, position) AS segment,
               transaction_id, position
        FROM (
            SELECT transaction_id, position FROM subscriptions WHERE transaction_id <> '0'
            UNION
            SELECT transaction_id, position FROM relay_checkpoint WHERE transaction_id <> '0'
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
    CREATE TEMP TABLE rebase_moves ON COMMIT DROP AS
        SELECT c.transaction_id, c.position,
               (3 + c.segment - 1)::text::xid8 AS new_transaction,
               coalesce((SELECT max(e.position) FROM events AS e
                         WHERE e.transaction_id = (3 + c.segment - 1)::text::xid8), 0) AS new_position
        FROM rebase_cuts AS c;
    UPDATE subscriptions AS s
       SET transaction_id = m.new_transaction, position = m.new_position
      FROM rebase_moves AS m
     WHERE (s.transaction_id, s.position) = (m.transaction_id, m.position);
    UPDATE relay_checkpoint AS r
       SET transaction_id = m.new_transaction, position = m.new_position
      FROM rebase_moves AS m
     WHERE (r.transaction_id, r.position) = (m.transaction_id, m.position);

    UPDATE stock_levels AS l
       SET transaction_id = e.transaction_id
      FROM events AS e
     WHERE e.position = l.last_position;
    RETURN renumbered;
END
$$;
