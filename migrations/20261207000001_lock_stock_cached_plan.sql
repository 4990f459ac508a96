-- `lock_stock` keeps one plan per statement for the life of a session, and
-- that plan is always the index lookups, however small its tables were
-- when the session first called it.
--
-- Why: planned on every call (`force_custom_plan`, since
-- `stock_reads_planned_per_call`), its four statements cost about 0.4 ms of
-- planning on each of the reservation process's batches and each stock
-- command, twice what they take to run. A cached generic plan was refused
-- then because the one Postgres makes while `stock_holds` is a few pages
-- long is a sequential scan, kept as the table grows. Every statement here
-- looks rows up by key (the locked SKUs, the (SKU, order) and (SKU, hold)
-- pairs, a SKU's lapsed holds by `stock_cart_holds_lapse_idx`), so with
-- sequential scans, hash and merge joins priced out the generic plan is
-- the index plan whatever the statistics say. These settings hold only
-- while the function runs.
ALTER FUNCTION lock_stock(text[], uuid[], text[], uuid[]) SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION lock_stock(text[], uuid[], text[], uuid[]) SET enable_seqscan = off;
ALTER FUNCTION lock_stock(text[], uuid[], text[], uuid[]) SET enable_hashjoin = off;
ALTER FUNCTION lock_stock(text[], uuid[], text[], uuid[]) SET enable_mergejoin = off;
