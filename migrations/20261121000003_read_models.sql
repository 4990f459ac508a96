-- Read models live in their own schema: the projector owns them, the query
-- API and analysts only read them.
CREATE SCHEMA read_models;

CREATE TABLE read_models.orders (
    order_id     uuid        PRIMARY KEY,
    customer_id  uuid        NOT NULL,
    status       text        NOT NULL,
    lines        jsonb       NOT NULL,
    total        bigint      NOT NULL,
    currency     text        NOT NULL,
    rejection    jsonb,
    placed_at    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    version      bigint      NOT NULL,
    position     bigint      NOT NULL
);
CREATE INDEX orders_customer_idx ON read_models.orders (customer_id, placed_at DESC, order_id DESC);
CREATE INDEX orders_status_idx ON read_models.orders (status, placed_at DESC, order_id DESC);
CREATE INDEX orders_placed_idx ON read_models.orders (placed_at DESC, order_id DESC);

CREATE TABLE read_models.products (
    sku         text        PRIMARY KEY,
    name        text        NOT NULL,
    unit_price  bigint      NOT NULL,
    currency    text        NOT NULL,
    status      text        NOT NULL,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Stock per SKU, apart from the catalogue because the two arrive on
-- different topics and either may come first.
CREATE TABLE read_models.stock (
    sku         text        PRIMARY KEY,
    on_hand     bigint      NOT NULL DEFAULT 0,
    reserved    bigint      NOT NULL DEFAULT 0,
    version     bigint      NOT NULL,
    updated_at  timestamptz NOT NULL
);

-- Per projection: the highest global position P such that every event at or
-- below P that the projection handles has been applied.
CREATE TABLE read_models.projection_positions (
    name        text        PRIMARY KEY,
    categories  text[]      NOT NULL,
    position    bigint      NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);
INSERT INTO read_models.projection_positions (name, categories)
VALUES ('orders', '{order}'), ('catalogue', '{product,stock}');
