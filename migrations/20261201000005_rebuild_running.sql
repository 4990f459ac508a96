-- `projection_positions.rebuilding` is set by a rebuild and cleared when it
-- ends, so a rebuild killed with kill -9 left it true for ever and every
-- status page said "rebuilding". Whether a rebuild runs is whether its guard
-- lock (`pg_try_advisory_lock(hashtextextended('stockroom-rebuild:' || name, 0))`,
-- see projector::rebuild) is held by a live session: Postgres frees it with
-- the session, however the session ended.
CREATE FUNCTION rebuild_running(projection text) RETURNS boolean
LANGUAGE sql STABLE AS $$
    SELECT EXISTS (
        SELECT 1
        FROM pg_locks AS l,
             LATERAL (SELECT hashtextextended('stockroom-rebuild:' || projection, 0) AS key) AS k
        WHERE l.locktype = 'advisory'
          AND l.granted
          AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
          AND l.objsubid = 1
          AND l.classid = ((k.key >> 32) & 4294967295)::oid
          AND l.objid = (k.key & 4294967295)::oid
    )
$$;
