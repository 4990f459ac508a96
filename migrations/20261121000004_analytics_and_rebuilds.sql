-- When an order was paid, for revenue by period.
ALTER TABLE read_models.orders ADD COLUMN paid_at timestamptz;
CREATE INDEX orders_paid_idx ON read_models.orders (paid_at) WHERE paid_at IS NOT NULL;

-- The sales projection: its own copy of order lines, and sales per day and SKU.
CREATE TABLE read_models.sales_order_lines (
    order_id   uuid    NOT NULL,
    line_no    integer NOT NULL,
    sku        text    NOT NULL,
    quantity   bigint  NOT NULL,
    line_total bigint  NOT NULL,
    currency   text    NOT NULL,
    PRIMARY KEY (order_id, line_no)
);

CREATE TABLE read_models.daily_sales (
    day             date   NOT NULL,
    sku             text   NOT NULL,
    currency        text   NOT NULL,
    units_confirmed bigint NOT NULL DEFAULT 0,
    units_cancelled bigint NOT NULL DEFAULT 0,
    units_paid      bigint NOT NULL DEFAULT 0,
    revenue_paid    bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, sku)
);
CREATE INDEX daily_sales_sku_idx ON read_models.daily_sales (sku, day);

INSERT INTO read_models.projection_positions (name, categories) VALUES ('sales', '{order}');

-- A rebuild in progress, for GET /v1/projections.
ALTER TABLE read_models.projection_positions ADD COLUMN rebuilding boolean NOT NULL DEFAULT false;

-- Analysts read the read models and nothing else. Log-in roles join this one:
--   CREATE ROLE alice LOGIN PASSWORD '…' IN ROLE stockroom_analyst;
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockroom_analyst') THEN
        CREATE ROLE stockroom_analyst NOLOGIN;
    END IF;
END
$$;
GRANT USAGE ON SCHEMA read_models TO stockroom_analyst;
GRANT SELECT ON ALL TABLES IN SCHEMA read_models TO stockroom_analyst;
ALTER DEFAULT PRIVILEGES IN SCHEMA read_models GRANT SELECT ON TABLES TO stockroom_analyst;
