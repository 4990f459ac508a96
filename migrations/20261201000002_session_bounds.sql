-- Every session of this database, not only Stockroom's (an operator's psql
-- left in an open transaction holding a stock row would stall the
-- reservation process until someone killed it), is ended after a minute idle
-- in a transaction. Stockroom's own connections also set it themselves
-- (`store::db::connect_options`), so a database restored without its
-- settings keeps the bound for them.
DO $$
BEGIN
    EXECUTE format(
        'ALTER DATABASE %I SET idle_in_transaction_session_timeout = %L',
        current_database(), '60s'
    );
EXCEPTION WHEN insufficient_privilege THEN
    -- A managed database whose owner is not the migrating role: the
    -- connections' own setting still bounds Stockroom's sessions.
    RAISE NOTICE 'cannot set idle_in_transaction_session_timeout on the database: %', SQLERRM;
END
$$;
