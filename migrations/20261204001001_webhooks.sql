-- Webhooks on top of the event feed (README, "Kafka, the feed or
-- webhooks"): each endpoint is a follower of the feed with its own
-- checkpoint, moved only once the endpoint accepted a batch.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockroom_webhooks') THEN
        BEGIN
            CREATE ROLE stockroom_webhooks NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the role stockroom_webhooks does not exist and % may not create it', current_user
                USING HINT = 'create it first, as README''s "Database roles" says: CREATE ROLE stockroom_webhooks NOLOGIN;';
        END;
    END IF;
END
$$;

CREATE TABLE webhook_endpoints (
    id            uuid        PRIMARY KEY,
    url           text        NOT NULL CHECK (url ~ '^https?://' AND length(url) <= 2000),
    -- Only these event types (all when empty).
    types         text[]      NOT NULL DEFAULT '{}',
    -- Every event of its types up to here was accepted by the endpoint.
    position      bigint      NOT NULL DEFAULT 0 CHECK (position >= 0),
    created_at    timestamptz NOT NULL DEFAULT now(),
    created_by    text        NOT NULL,
    disabled_at   timestamptz,
    delivered_at  timestamptz,
    -- Since when the batch after `position` has failed, and why, last.
    failing_since timestamptz,
    attempts      integer     NOT NULL DEFAULT 0,
    last_error    text
);

-- The signing secret must be recoverable to sign, so it cannot be hashed:
-- it lives apart, readable by the webhooks process (and the owner) only.
-- The tools may write one, never read it back.
CREATE TABLE webhook_secrets (
    endpoint_id uuid PRIMARY KEY REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    secret      text NOT NULL
);

GRANT SELECT, INSERT, DELETE, UPDATE (disabled_at) ON webhook_endpoints TO stockroom_app;
GRANT INSERT ON webhook_secrets TO stockroom_app;
GRANT SELECT, UPDATE (position, delivered_at, failing_since, attempts, last_error)
    ON webhook_endpoints TO stockroom_webhooks;
GRANT SELECT ON webhook_secrets TO stockroom_webhooks;
-- The webhooks process reads the log (the feed's pages, its horizon) and
-- checks at start that the log is this cluster's.
GRANT SELECT ON events, subscriptions, consumer_offsets, stock_levels TO stockroom_webhooks;
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public TO stockroom_webhooks;
-- Its metrics endpoint checks keys like every process's.
GRANT SELECT, UPDATE (last_used_at) ON api_keys TO stockroom_webhooks;
-- /v1/projections, the console and doctor show how far behind each is.
GRANT SELECT ON webhook_endpoints TO stockroom_query_api;
