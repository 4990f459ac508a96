-- Stock at several locations (api.md v1.2). Everything recorded before this
-- migration is at the location `default`: old events need no rewrite
-- (absent `location` reads as `default`), and the rows below start there.

-- The current state of each location stream, written in the transaction of
-- its events (store::locations): what allocation reads. `default` exists
-- from the start, without an event, until someone changes it.
CREATE TABLE locations (
    code           text        PRIMARY KEY CHECK (code ~ '^[a-z0-9-]{1,32}$'),
    name           text        NOT NULL,
    priority       integer     NOT NULL,
    channels       text[]      NOT NULL DEFAULT '{}',
    active         boolean     NOT NULL DEFAULT true,
    version        bigint      NOT NULL DEFAULT 0,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);
INSERT INTO locations (code, name, priority) VALUES ('default', 'Default', 100);

-- Units of each SKU at each location, beside stock_levels (the SKU's
-- stream version and totals) and written with the same events. The
-- invariant is the table's own: no code path, however it got here, can
-- store a location with more reserved and held than on hand.
CREATE TABLE stock_location_levels (
    sku       text    NOT NULL,
    location  text    NOT NULL,
    on_hand   bigint  NOT NULL,
    reserved  bigint  NOT NULL DEFAULT 0,
    held      bigint  NOT NULL DEFAULT 0,
    PRIMARY KEY (sku, location),
    CONSTRAINT stock_location_reserved_not_negative CHECK (reserved >= 0),
    CONSTRAINT stock_location_held_not_negative CHECK (held >= 0),
    CONSTRAINT stock_location_available_not_negative CHECK (on_hand - reserved - held >= 0)
);
INSERT INTO stock_location_levels (sku, location, on_hand, reserved)
SELECT sku, 'default', on_hand, reserved FROM stock_levels;

-- An order's reservation of a SKU is kept per location; a NULL quantity
-- still marks a settled one.
ALTER TABLE stock_holds ADD COLUMN location text NOT NULL DEFAULT 'default';
ALTER TABLE stock_holds DROP CONSTRAINT stock_holds_pkey;
ALTER TABLE stock_holds ADD PRIMARY KEY (sku, order_id, location);

-- Locks the rows of `p_skus` in SKU order (so two callers never wait on
-- each other in a cycle; every writer of a SKU's location rows holds its
-- SKU row first, so those need no lock of their own) and then reads every
-- reservation of each (SKU, order) pair, one row per location, and every
-- location's units. Three statements, as lock_stock_levels explains: each
-- takes its snapshot once the locks are held.
CREATE FUNCTION lock_stock(p_skus text[], p_orders uuid[])
RETURNS TABLE (kind text, sku text, order_id uuid, location text, version bigint,
               last_position bigint, in_commit_order boolean,
               on_hand bigint, reserved bigint, held bigint, quantity bigint)
LANGUAGE plpgsql VOLATILE AS $$
#variable_conflict use_column
BEGIN
    PERFORM 1 FROM stock_levels l WHERE l.sku = ANY (p_skus) ORDER BY l.sku FOR UPDATE;
    RETURN QUERY
        SELECT 'level', l.sku, NULL::uuid, NULL::text, l.version, l.last_position,
               l.transaction_id <= pg_current_xact_id(), l.on_hand, l.reserved,
               NULL::bigint, NULL::bigint
          FROM stock_levels l WHERE l.sku = ANY (p_skus);
    RETURN QUERY
        SELECT 'units', u.sku, NULL::uuid, u.location, NULL::bigint, NULL::bigint, NULL::boolean,
               u.on_hand, u.reserved, u.held, NULL::bigint
          FROM stock_location_levels u WHERE u.sku = ANY (p_skus);
    RETURN QUERY
        SELECT 'hold', h.sku, h.order_id, h.location, NULL::bigint, NULL::bigint, NULL::boolean,
               NULL::bigint, NULL::bigint, NULL::bigint, h.quantity
          FROM (SELECT DISTINCT * FROM unnest(p_skus, p_orders) AS p(sku, order_id)) p
          JOIN stock_holds h ON h.sku = p.sku AND h.order_id = p.order_id;
END
$$;
ALTER FUNCTION lock_stock(text[], uuid[]) SET plan_cache_mode = force_custom_plan;

-- Stock per location in the catalogue read model, beside read_models.stock
-- (the totals, as v1 answers them); the history so far is all `default`.
CREATE TABLE read_models.stock_locations (
    sku         text        NOT NULL,
    location    text        NOT NULL,
    on_hand     bigint      NOT NULL DEFAULT 0,
    reserved    bigint      NOT NULL DEFAULT 0,
    held        bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (sku, location)
);
INSERT INTO read_models.stock_locations (sku, location, on_hand, reserved, updated_at)
SELECT sku, 'default', on_hand, reserved, updated_at FROM read_models.stock;

-- Where each confirmed order's units are reserved, and its shipments: part
-- of the orders projection, written once per event (insert-only).
CREATE TABLE read_models.order_allocations (
    order_id  uuid    NOT NULL,
    sku       text    NOT NULL,
    location  text    NOT NULL,
    quantity  bigint  NOT NULL,
    PRIMARY KEY (order_id, sku, location)
);
CREATE TABLE read_models.order_shipments (
    order_id         uuid        NOT NULL,
    shipment_id      uuid        NOT NULL,
    location         text,
    lines            jsonb       NOT NULL,
    carrier          text,
    tracking_number  text,
    shipped_at       timestamptz NOT NULL,
    version          bigint      NOT NULL,
    PRIMARY KEY (order_id, shipment_id)
);
ALTER TABLE read_models.orders ADD COLUMN pickup_location text;
-- Orders shipped before this migration were shipped whole, each by one
-- event, which names the shipment: the same rows the projection writes for
-- them on a rebuild, so verify and the order answer agree either way.
INSERT INTO read_models.order_shipments
    (order_id, shipment_id, location, lines, carrier, tracking_number, shipped_at, version)
SELECT aggregate_id::uuid, event_id, NULL, '[]'::jsonb, data->>'carrier',
       data->>'tracking_number', occurred_at, stream_version
FROM events WHERE event_type = 'OrderShipped'
ON CONFLICT DO NOTHING;

-- Grants: the command API registers locations and moves stock; the
-- reservation process reads locations and moves stock; the query API reads
-- locations (the read models' grants come from grant_process_roles()).
GRANT SELECT, INSERT, UPDATE ON locations, stock_location_levels
    TO stockroom_app, stockroom_command_api;
-- The reservation process reads locations under FOR SHARE, which needs
-- UPDATE, and never registers one.
GRANT SELECT, UPDATE ON locations TO stockroom_reserver;
GRANT SELECT, INSERT, UPDATE ON stock_location_levels TO stockroom_reserver;
GRANT SELECT ON locations TO stockroom_query_api;
SELECT grant_runtime_roles();
SELECT grant_process_roles();
GRANT SELECT ON read_models.stock_locations, read_models.order_allocations,
    read_models.order_shipments TO stockroom_analyst;

-- api.md v1.2: keys of the `warehouse` role move stock and ship.
ALTER TABLE api_keys DROP CONSTRAINT api_keys_role_check;
ALTER TABLE api_keys ADD CONSTRAINT api_keys_role_check
    CHECK (role IN ('storefront', 'staff', 'warehouse', 'payments', 'analyst', 'operator',
                    'subscriber', 'admin'));

-- Locations are streams of their own category (`location-{code}`). The
-- check reads every event once, with the log locked: this upgrade is made
-- with every process stopped (README, "Stock at several locations"), as
-- processes of the version before cannot write the new stock rows anyway.
ALTER TABLE events DROP CONSTRAINT events_category_check;
ALTER TABLE events ADD CONSTRAINT events_category_check
    CHECK (category IN ('product', 'stock', 'order', 'location'));

-- Warehouse people sign in to the console too (its access table says what
-- they may do there).
ALTER TABLE console_users DROP CONSTRAINT console_users_role_check;
ALTER TABLE console_users ADD CONSTRAINT console_users_role_check
    CHECK (role IN ('staff', 'warehouse', 'operator', 'admin'));
