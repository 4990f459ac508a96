-- A follower's round in one round trip instead of two (`log_horizon()`, then
-- the read): the horizon and the events it allows, from one function.
--
-- The order inside is what the settling rule needs (see `store::follow`):
-- first the last position handed out, then a snapshot's bounds, then the
-- events committed after the cursor by transactions below that snapshot's
-- xmin, read under a later snapshot, in which every one of them is visible.
-- Each statement of a volatile PL/pgSQL function takes a new snapshot, in
-- this order. Without events the function returns one row whose `event` is
-- NULL, so the horizon always comes back.
CREATE FUNCTION log_round(
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
        FROM events AS e
        WHERE (e.transaction_id, e.position) > (after_transaction, after_position)
          AND e.transaction_id < horizon_xmin
          AND (cardinality(wanted_categories) = 0 OR e.category = ANY (wanted_categories))
        ORDER BY e.transaction_id, e.position
        LIMIT max_events;
    IF NOT FOUND THEN
        event := NULL;
        RETURN NEXT;
    END IF;
END
$$;

-- Only the log follower called it.
DROP FUNCTION log_horizon();
