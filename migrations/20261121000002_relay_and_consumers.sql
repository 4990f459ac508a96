-- How far the relay has published, in commit order. Written only after the
-- broker acknowledged every event up to it.
CREATE TABLE relay_checkpoint (
    id               smallint    PRIMARY KEY DEFAULT 1 CHECK (id = 1),
    transaction_id   xid8        NOT NULL DEFAULT '0',
    position         bigint      NOT NULL DEFAULT 0,
    published_events bigint      NOT NULL DEFAULT 0,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
INSERT INTO relay_checkpoint DEFAULT VALUES;

-- Kafka offsets of consumers that store them with their writes, so a crash
-- between the write and an offset commit cannot apply a batch twice.
CREATE TABLE consumer_offsets (
    consumer_group text        NOT NULL,
    topic          text        NOT NULL,
    partition      integer     NOT NULL,
    next_offset    bigint      NOT NULL,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer_group, topic, partition)
);

-- Events a consumer has handled, by event id: the relay is at-least-once, so a
-- republished event arrives at a new offset and is recognised here.
CREATE TABLE processed_events (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    position     bigint      NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

-- Events a handler failed on repeatedly, parked with the error so the
-- partition moves on. `stockroom parked list|retry` works on these.
CREATE TABLE parked_events (
    id          bigserial   PRIMARY KEY,
    consumer    text        NOT NULL,
    event_id    uuid        NOT NULL,
    position    bigint      NOT NULL,
    topic       text        NOT NULL,
    partition   integer     NOT NULL,
    "offset"    bigint      NOT NULL,
    envelope    jsonb       NOT NULL,
    error       text        NOT NULL,
    attempts    integer     NOT NULL,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    retried_at  timestamptz,
    CONSTRAINT parked_events_consumer_event_key UNIQUE (consumer, event_id)
);

-- Confirmed orders waiting for payment. The expirer claims due rows with
-- FOR UPDATE SKIP LOCKED, so two instances never work on one order.
CREATE TABLE payment_deadlines (
    order_id uuid        PRIMARY KEY,
    due_at   timestamptz NOT NULL
);
CREATE INDEX payment_deadlines_due_at_idx ON payment_deadlines (due_at);

CREATE INDEX processed_events_position_idx ON processed_events (consumer, position);
