-- Returns and refunds (api.md v1.2). Both live on the order's stream
-- (domain::order::aftersales says why): no new stream category or topic.

-- A receipt names only its return; the command API finds the order through
-- the return's ReturnRequested event. Partial, so it holds those events
-- only and costs the other appends nothing.
CREATE INDEX events_return_id_idx ON events ((data->>'return_id'))
    WHERE event_type = 'ReturnRequested';

-- The orders projection keeps, beside each order, its refunds and its
-- returns with their receipts: rows only ever inserted (one per event), so
-- a redelivered or late event writes nothing twice and needs no order row.
CREATE TABLE read_models.order_refunds (
    order_id     uuid        NOT NULL,
    refund_id    uuid        NOT NULL,
    amount       bigint      NOT NULL,
    currency     text        NOT NULL,
    reason       text        NOT NULL,
    return_id    uuid,
    refunded_at  timestamptz NOT NULL,
    PRIMARY KEY (order_id, refund_id)
);
CREATE INDEX order_refunds_refunded_at_idx ON read_models.order_refunds (refunded_at);
CREATE TABLE read_models.order_returns (
    return_id     uuid        PRIMARY KEY,
    order_id      uuid        NOT NULL,
    lines         jsonb       NOT NULL,
    units         bigint      NOT NULL,
    requested_at  timestamptz NOT NULL
);
CREATE INDEX order_returns_order_idx ON read_models.order_returns (order_id);
CREATE TABLE read_models.return_receipts (
    return_id    uuid        NOT NULL,
    receipt_id   uuid        NOT NULL,
    order_id     uuid        NOT NULL,
    location     text        NOT NULL,
    lines        jsonb       NOT NULL,
    units        bigint      NOT NULL,
    received_at  timestamptz NOT NULL,
    PRIMARY KEY (return_id, receipt_id)
);

-- An after-sales event moves an order's version but not its status: a
-- move waiting for its placement may carry no status of its own.
ALTER TABLE read_models.orders_pending_moves ALTER COLUMN status DROP NOT NULL;

-- The sales projection: refunded revenue per day (UTC) and currency.
-- Refunds are money given back on a whole order, not on SKUs, so they sit
-- beside daily_sales rather than in its rows.
CREATE TABLE read_models.daily_refunds (
    day               date   NOT NULL,
    currency          text   NOT NULL,
    refunds           bigint NOT NULL DEFAULT 0,
    revenue_refunded  bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (day, currency)
);

SELECT grant_process_roles();
GRANT SELECT ON read_models.order_refunds, read_models.order_returns,
    read_models.return_receipts, read_models.daily_refunds TO stockroom_analyst;
