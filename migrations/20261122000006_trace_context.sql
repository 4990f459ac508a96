-- The W3C traceparent of the request (or the reaction) that appended an
-- event, so one order can be followed from its request through the
-- reservation to the read models and onto Kafka. NULL for events appended
-- without one (before this column, or by a timer such as the expirer).
ALTER TABLE events ADD COLUMN trace_parent text;
