-- api.md v1.2, Customers: `customer_id` is the shop's own identifier, any
-- 1 to 128 characters of A-Z a-z 0-9 . _ : @ - (a UUID is one). Events need
-- no rewrite: a UUID was always stored as its hyphenated text. The read
-- model's column becomes text; Postgres rebuilds both indexes on it
-- (orders_customer_idx, orders_channel_customer_idx) under their names, and
-- a UUID's text is what the projection writes for it from now on, so a
-- rebuild and verify agree with the converted rows.
ALTER TABLE read_models.orders ALTER COLUMN customer_id TYPE text USING customer_id::text;
