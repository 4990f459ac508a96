-- One group role per long-running process, each with only what its SQL
-- uses (README, "Database roles"). `stockroom_app` keeps the union, for the
-- console and the operator tools (which rebuild read models, retry parked
-- events, make keys and people) and for deployments with one runtime role.
-- Log-in roles join these groups; they are made by an operator or
-- scripts/lib/infra.sh, not here.
DO $$
DECLARE
    r text;
BEGIN
    FOREACH r IN ARRAY ARRAY['stockroom_command_api', 'stockroom_query_api', 'stockroom_relay',
                             'stockroom_projector', 'stockroom_reserver'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
            BEGIN
                EXECUTE format('CREATE ROLE %I NOLOGIN', r);
            EXCEPTION WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'the role % does not exist and % may not create it', r, current_user
                    USING HINT = 'create it first, as README''s "Database roles" says: CREATE ROLE ' || r || ' NOLOGIN;';
            END;
        END IF;
    END LOOP;
END
$$;

-- Every follower of the log checks at start that its ids are this cluster's
-- (log_from_another_cluster(), which reads the cursors and the stock rows).
GRANT SELECT ON subscriptions, consumer_offsets, stock_levels
    TO stockroom_relay, stockroom_projector, stockroom_reserver;
-- Every process reads sequences' positions; those that append take numbers.
GRANT SELECT ON ALL SEQUENCES IN SCHEMA public
    TO stockroom_command_api, stockroom_query_api, stockroom_relay, stockroom_projector, stockroom_reserver;
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public
    TO stockroom_command_api, stockroom_projector, stockroom_reserver;
-- The APIs and the workers' metrics endpoints check keys and note when one
-- was last used, and nothing else of them: none can revoke, extend or make
-- a key.
GRANT SELECT, UPDATE (last_used_at) ON api_keys
    TO stockroom_command_api, stockroom_query_api, stockroom_relay, stockroom_projector, stockroom_reserver;

-- The command API decides commands and appends their events with the stock
-- rows, the catalogue's version and the idempotency keys they move.
GRANT SELECT, INSERT ON events TO stockroom_command_api;
GRANT SELECT, INSERT, UPDATE ON catalogue_version, stock_levels, stock_holds, idempotency_keys
    TO stockroom_command_api;

-- The query API reads the read models (grant_runtime_roles), the log (order
-- and stock histories, positions) and what /v1/projections reports.
GRANT SELECT ON events, subscriptions, parked_events TO stockroom_query_api;

-- The relay reads the log and moves its own cursor.
GRANT SELECT ON events TO stockroom_relay;
GRANT SELECT, INSERT, UPDATE ON subscriptions TO stockroom_relay;

-- The projector reads the log and writes the read models (grant_runtime_roles)
-- with its cursors, deduplication and parked events.
GRANT SELECT ON events TO stockroom_projector;
GRANT SELECT, INSERT, UPDATE ON subscriptions, consumer_offsets, processed_events, parked_events
    TO stockroom_projector;

-- The reservation process appends decisions with the stock rows, expires
-- unpaid orders and purges the bookkeeping past its retention.
GRANT SELECT, INSERT ON events TO stockroom_reserver;
GRANT SELECT, INSERT, UPDATE ON subscriptions, consumer_offsets, stock_levels, stock_holds
    TO stockroom_reserver;
GRANT SELECT, INSERT, UPDATE, DELETE ON payment_deadlines, processed_events, parked_events
    TO stockroom_reserver;
GRANT SELECT, DELETE ON idempotency_keys TO stockroom_reserver;

-- The read models' grants to the query API and the projector, on every
-- table of read_models (one a later migration adds included); `stockroom
-- migrate` calls this every time, after grant_runtime_roles(). A rebuild
-- copies them from the live tables to the ones it swaps in.
CREATE FUNCTION grant_process_roles() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    GRANT USAGE ON SCHEMA read_models TO stockroom_query_api, stockroom_projector;
    GRANT SELECT ON ALL TABLES IN SCHEMA read_models TO stockroom_query_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA read_models TO stockroom_projector;
END
$$;
REVOKE EXECUTE ON FUNCTION grant_process_roles() FROM PUBLIC;

SELECT grant_process_roles();
