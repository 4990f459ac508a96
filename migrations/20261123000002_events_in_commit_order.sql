-- The commit-order read, written once. `read_committed_after` (rebuilds and
-- the bench) and `log_round()` (every follower) each carried their own copy
-- of it, and the copies drifted: the first ordered by its output column
-- `transaction_id`, the `::text::bigint` cast that `EVENT_COLUMNS` names
-- like the column, so Postgres sorted the whole log on every call instead of
-- walking `events_commit_order_idx` (0.6 s per 5,000-event batch of a
-- 1,000,000-event log, against 4 ms).
--
-- A set-returning SQL function that is neither volatile nor strict is
-- inlined into the query that calls it, so each caller is planned as if it
-- had written the predicate itself, against the index.
CREATE FUNCTION events_in_commit_order(
    after_transaction xid8,
    after_position bigint,
    below_transaction xid8,
    wanted_categories text[],
    max_events bigint
) RETURNS SETOF events
LANGUAGE sql STABLE AS $$
    SELECT *
    FROM events AS e
    WHERE (e.transaction_id, e.position) > (after_transaction, after_position)
      AND e.transaction_id < below_transaction
      AND (cardinality(wanted_categories) = 0 OR e.category = ANY (wanted_categories))
    ORDER BY e.transaction_id, e.position
    LIMIT max_events
$$;

-- As before (see `20261123000001_log_round.sql` for the order of its three
-- snapshots), with the read above.
CREATE OR REPLACE FUNCTION log_round(
    after_transaction xid8,
    after_position bigint,
    max_events bigint,
    wanted_categories text[]
) RETURNS TABLE (last_position bigint, horizon_xmin xid8, horizon_xmax xid8, event events)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO last_position
    FROM events_position_seq AS s;
    SELECT pg_snapshot_xmin(c), pg_snapshot_xmax(c) INTO horizon_xmin, horizon_xmax
    FROM pg_current_snapshot() AS c;
    RETURN QUERY
        SELECT last_position, horizon_xmin, horizon_xmax, e
        FROM events_in_commit_order(
            after_transaction, after_position, horizon_xmin, wanted_categories, max_events
        ) AS e;
    IF NOT FOUND THEN
        event := NULL;
        RETURN NEXT;
    END IF;
END
$$;
