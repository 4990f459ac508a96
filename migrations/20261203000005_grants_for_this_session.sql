-- Grants for what arrived beside the roles (20261202*): the SKUs' unit
-- snapshots, written with stock events and read by the movements page; the
-- command API's count of a sales channel's open orders (read_models.orders)
-- and its check that the log is this cluster's before it appends.
GRANT SELECT, INSERT ON stock_unit_snapshots TO stockroom_app, stockroom_command_api, stockroom_reserver;
GRANT SELECT ON stock_unit_snapshots TO stockroom_query_api;
GRANT SELECT ON subscriptions, consumer_offsets TO stockroom_command_api;

CREATE OR REPLACE FUNCTION grant_process_roles() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    GRANT USAGE ON SCHEMA read_models TO stockroom_query_api, stockroom_projector, stockroom_command_api;
    GRANT SELECT ON ALL TABLES IN SCHEMA read_models TO stockroom_query_api;
    GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA read_models TO stockroom_projector;
    -- A channel's open unpaid orders, counted before each placement through it.
    GRANT SELECT ON read_models.orders TO stockroom_command_api;
END
$$;
REVOKE EXECUTE ON FUNCTION grant_process_roles() FROM PUBLIC;

SELECT grant_process_roles();
