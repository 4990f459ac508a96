-- The reservation process's locked read joins its batch's (SKU, order) pairs
-- with `stock_holds`, which gains a row per order line. Planned once per
-- session, the plan made while that table was a few pages long (a sequential
-- scan) would be kept as it grows; planned per call it follows the index.
-- One plan per batch costs microseconds (see `stream_reads_planned_per_call`).
ALTER FUNCTION lock_stock_levels(text[], uuid[]) SET plan_cache_mode = force_custom_plan;
