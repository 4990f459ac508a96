-- The settling rule sampled `pg_snapshot_xmax()` as the bound above every
-- transaction that could hold a position up to `last_position`. That bound
-- is not what the rule needs: Postgres sets a snapshot's xmax to one past the
-- latest *completed* transaction id, and leaves every running transaction at
-- or above it out of the snapshot (and out of its xmin). So an appender that
-- held the newest id, with a position handed out and not yet committed, was
-- invisible: the next round's xmin already reached the sample's xmax and the
-- position counted as settled, and a reader waiting for it (`X-Min-Position`)
-- was answered before the event was applied (4-5 % of read-backs at
-- 100 orders/s).
--
-- The fence is now a transaction id the round itself is given, after it read
-- `last_position`: ids are handed out in order, so every transaction that
-- took a position up to `last_position` (each took its id first, see
-- `next_event_position()`) has a lower id. Once a later round's xmin reaches
-- the fence, all of them have ended. The round ends at once, so the id is
-- held for the few milliseconds of the read; it is taken only when the log
-- moved since the follower's last sample, so an idle follower costs no ids.
DROP FUNCTION log_round(xid8, bigint, bigint, text[]);

CREATE FUNCTION log_round(
    after_transaction xid8,
    after_position bigint,
    max_events bigint,
    wanted_categories text[],
    sampled_last bigint
) RETURNS TABLE (last_position bigint, horizon_xmin xid8, fence xid8, event events)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    -- A transaction that already has an id (one that wrote) may have taken
    -- it before other writers took theirs: it is no fence for them.
    IF pg_current_xact_id_if_assigned() IS NOT NULL THEN
        RAISE EXCEPTION 'log_round() must run in a transaction that has written nothing';
    END IF;
    SELECT CASE WHEN s.is_called THEN s.last_value ELSE 0 END INTO last_position
    FROM events_position_seq AS s;
    IF last_position > sampled_last THEN
        fence := pg_current_xact_id();
    END IF;
    SELECT pg_snapshot_xmin(c) INTO horizon_xmin FROM pg_current_snapshot() AS c;
    RETURN QUERY
        SELECT last_position, horizon_xmin, fence, e
        FROM events_in_commit_order(
            after_transaction, after_position, horizon_xmin, wanted_categories, max_events
        ) AS e;
    IF NOT FOUND THEN
        event := NULL;
        RETURN NEXT;
    END IF;
END
$$;
