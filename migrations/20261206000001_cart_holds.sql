-- Cart holds (api.md v1.2, "Holds"): each hold is a stream of its own
-- category (`hold-{uuid}`), its units are held on the SKUs' stock streams.

ALTER TABLE events DROP CONSTRAINT events_category_check;
ALTER TABLE events ADD CONSTRAINT events_category_check
    CHECK (category IN ('product', 'stock', 'order', 'location', 'hold'));

-- A hold's current state, written in the transaction of its events: what
-- it holds, until when, and how it stands. The expirer walks the active
-- ones by end; the query API answers from here (an active hold past its
-- end reads as expired).
CREATE TABLE holds (
    hold_id     uuid        PRIMARY KEY,
    channel     text,
    status      text        NOT NULL CHECK (status IN ('active', 'converted', 'released', 'expired')),
    lines       jsonb       NOT NULL,
    placed_at   timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL,
    order_id    uuid,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX holds_due_idx ON holds (expires_at) WHERE status = 'active';

-- The units a hold keeps of a SKU at a location: part of the SKU's current
-- state beside `stock_location_levels.held` (which sums them), written with
-- the SKU's events under its row lock. `expires_at` follows extensions, so a
-- decision short at a location finds the lapsed holds there by index.
CREATE TABLE stock_cart_holds (
    sku         text        NOT NULL,
    hold_id     uuid        NOT NULL,
    location    text        NOT NULL,
    quantity    bigint      NOT NULL CHECK (quantity > 0),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (sku, hold_id, location)
);
CREATE INDEX stock_cart_holds_lapse_idx ON stock_cart_holds (sku, expires_at);
CREATE INDEX stock_cart_holds_hold_idx ON stock_cart_holds (hold_id);

-- Locks the rows of `p_skus` in SKU order, as before, and reads besides the
-- rows of each (SKU, hold) pair of `p_hold_skus`/`p_holds` and, per SKU,
-- every row of up to 500 holds past their end (by the clock after the lock,
-- so a hold command that ran before us under the same lock saw an earlier
-- time). A hold is read whole at a SKU or not at all: its rows are written
-- back from what was read.
DROP FUNCTION lock_stock(text[], uuid[]);
CREATE FUNCTION lock_stock(p_skus text[], p_orders uuid[], p_hold_skus text[], p_holds uuid[])
RETURNS TABLE (kind text, sku text, order_id uuid, location text, version bigint,
               last_position bigint, in_commit_order boolean,
               on_hand bigint, reserved bigint, held bigint, quantity bigint,
               expires_at timestamptz, lapsed boolean)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
DECLARE
    now_ timestamptz;
BEGIN
    PERFORM 1 FROM stock_levels l WHERE l.sku = ANY (p_skus) ORDER BY l.sku FOR UPDATE;
    now_ := clock_timestamp();
    RETURN QUERY
        SELECT 'level', l.sku, NULL::uuid, NULL::text, l.version, l.last_position,
               l.transaction_id <= pg_current_xact_id(), l.on_hand, l.reserved,
               NULL::bigint, NULL::bigint, NULL::timestamptz, NULL::boolean
          FROM stock_levels l WHERE l.sku = ANY (p_skus);
    RETURN QUERY
        SELECT 'units', u.sku, NULL::uuid, u.location, NULL::bigint, NULL::bigint, NULL::boolean,
               u.on_hand, u.reserved, u.held, NULL::bigint, NULL::timestamptz, NULL::boolean
          FROM stock_location_levels u WHERE u.sku = ANY (p_skus);
    RETURN QUERY
        SELECT 'hold', h.sku, h.order_id, h.location, NULL::bigint, NULL::bigint, NULL::boolean,
               NULL::bigint, NULL::bigint, NULL::bigint, h.quantity, NULL::timestamptz, NULL::boolean
          FROM (SELECT DISTINCT * FROM unnest(p_skus, p_orders) AS p(sku, order_id)) p
          JOIN stock_holds h ON h.sku = p.sku AND h.order_id = p.order_id;
    RETURN QUERY
        SELECT 'cart', c.sku, c.hold_id, c.location, NULL::bigint, NULL::bigint, NULL::boolean,
               NULL::bigint, NULL::bigint, NULL::bigint, c.quantity, c.expires_at,
               c.expires_at <= now_
          FROM (
              SELECT w.* FROM (SELECT DISTINCT * FROM unnest(p_hold_skus, p_holds) AS p(sku, hold_id)) p
                JOIN stock_cart_holds w ON w.sku = p.sku AND w.hold_id = p.hold_id
              UNION
              SELECT x.* FROM (SELECT DISTINCT s FROM unnest(p_skus) AS s) s
                CROSS JOIN LATERAL (
                    SELECT y.* FROM stock_cart_holds y
                    WHERE y.sku = s.s AND y.hold_id IN (
                        SELECT z.hold_id FROM stock_cart_holds z
                        WHERE z.sku = s.s AND z.expires_at <= now_
                        GROUP BY z.hold_id ORDER BY min(z.expires_at) LIMIT 500)) x
          ) c;
END
$$;
ALTER FUNCTION lock_stock(text[], uuid[], text[], uuid[]) SET plan_cache_mode = force_custom_plan;

-- What each hold keeps per SKU and location, in the catalogue projection:
-- the stock answer leaves out the units of holds past their end.
CREATE TABLE read_models.stock_hold_units (
    sku       text    NOT NULL,
    location  text    NOT NULL,
    hold_id   uuid    NOT NULL,
    quantity  bigint  NOT NULL,
    PRIMARY KEY (sku, location, hold_id)
);

GRANT SELECT, INSERT, UPDATE ON holds TO stockroom_app, stockroom_command_api, stockroom_reserver;
GRANT SELECT ON holds TO stockroom_query_api;
GRANT SELECT, INSERT, UPDATE, DELETE ON stock_cart_holds
    TO stockroom_app, stockroom_command_api, stockroom_reserver;
SELECT grant_runtime_roles();
SELECT grant_process_roles();
GRANT SELECT ON read_models.stock_hold_units TO stockroom_analyst;
