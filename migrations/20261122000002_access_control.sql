-- API keys: a public id and a secret of which only a SHA-256 hash is kept.
-- The secret is 256 random bits, so a fast hash is as good as a slow one
-- here: there is nothing to guess.
CREATE TABLE api_keys (
    id              uuid        PRIMARY KEY,
    name            text        NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    role            text        NOT NULL CHECK (role IN ('storefront', 'staff', 'payments', 'analyst', 'operator', 'admin')),
    channel         text        CHECK (channel IS NULL OR length(channel) BETWEEN 1 AND 100),
    secret_hash     bytea       NOT NULL,
    rate_per_second integer     CHECK (rate_per_second IS NULL OR rate_per_second > 0),
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    last_used_at    timestamptz,
    revoked_at      timestamptz,
    rotated_from    uuid        REFERENCES api_keys (id),
    CONSTRAINT api_keys_storefront_channel CHECK ((role = 'storefront') = (channel IS NOT NULL))
);

-- Every running process drops its cached copy of a key that changed.
CREATE FUNCTION notify_api_key_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('stockroom_keys', NEW.id::text);
    RETURN NULL;
END
$$;
CREATE TRIGGER api_key_changed
    AFTER UPDATE OF revoked_at, expires_at, role, channel, rate_per_second ON api_keys
    FOR EACH ROW EXECUTE FUNCTION notify_api_key_changed();

-- Who created, rotated and revoked which key, and when. Append-only.
CREATE TABLE api_key_audit (
    id       bigserial   PRIMARY KEY,
    key_id   uuid        NOT NULL REFERENCES api_keys (id),
    action   text        NOT NULL CHECK (action IN ('created', 'rotated', 'revoked')),
    actor    text        NOT NULL,
    details  jsonb       NOT NULL DEFAULT '{}',
    at       timestamptz NOT NULL DEFAULT now()
);
CREATE FUNCTION refuse_audit_change() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'api_key_audit is append-only';
END
$$;
CREATE TRIGGER api_key_audit_append_only
    BEFORE UPDATE OR DELETE ON api_key_audit
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_audit_change();

-- Idempotency keys belong to the API key that sent them: two clients using
-- the same value never see each other's responses.
ALTER TABLE idempotency_keys ADD COLUMN scope text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (scope, key);

-- The channel an order was placed through.
ALTER TABLE read_models.orders ADD COLUMN channel text;
CREATE INDEX orders_channel_customer_idx ON read_models.orders (channel, customer_id, placed_at DESC, order_id DESC);
