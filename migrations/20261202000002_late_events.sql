-- Events that reach a read model before the event that creates their row
-- (the placement was parked and retried later, or arrived late from Kafka)
-- were lost: the orders projection's update found no row, and the sales
-- projection's counters found no lines to count. They wait here until the
-- row or the lines arrive, and are applied then. Both tables belong to their
-- projection (rebuilt and swapped with it).
CREATE TABLE read_models.orders_pending_moves (
    order_id   uuid        PRIMARY KEY,
    status     text        NOT NULL,
    rejection  jsonb,
    paid_at    timestamptz,
    updated_at timestamptz NOT NULL,
    version    bigint      NOT NULL,
    position   bigint      NOT NULL
);

-- Each counter moves at most once per order (one confirmation, one
-- payment, one cancellation or expiry).
CREATE TABLE read_models.sales_pending_counters (
    order_id uuid        NOT NULL,
    counter  text        NOT NULL,
    at       timestamptz NOT NULL,
    PRIMARY KEY (order_id, counter)
);

GRANT SELECT ON read_models.orders_pending_moves, read_models.sales_pending_counters
    TO stockroom_analyst;
