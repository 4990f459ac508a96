-- Reads of streams by id are planned on every call, for the table as it is.
--
-- Why: Postgres gives a prepared statement a generic plan on its sixth run
-- and keeps it until the table is next analyzed. A connection that first read
-- streams while `events` held a few pages kept a sequential scan of the
-- whole log for good: on a log growing from empty (a new shop, every bench
-- database) the catalogue read of each order went from 0.1 ms by the index
-- to 2.5 ms and growing, and the reservation process's read of its batch's
-- orders to 34 ms under load. Planning this read per call costs about 25 us;
-- the rest of the hot path keeps its cached plans (planning every statement
-- of every process cost a quarter of Postgres's CPU).

-- Every event of the given streams (the caller orders them).
CREATE FUNCTION stream_events(p_stream_ids text[])
RETURNS SETOF events
LANGUAGE sql STABLE
SET plan_cache_mode = force_custom_plan
AS $$
  SELECT * FROM events WHERE stream_id = ANY (p_stream_ids)
$$;
