-- Least privilege. The role that runs the migrations owns the schema and
-- the event log; the processes connect as log-in roles that are members of
-- `stockroom_app`, which may append to the log and read it but never
-- UPDATE, DELETE or TRUNCATE it, nor change the key audit trail; analysts
-- (`stockroom_analyst`) read the read models only. Log-in roles and their
-- passwords are made by an operator or scripts/lib/infra.sh (README,
-- "Database roles"), not here.

-- A group role with no login. Making it needs CREATEROLE; an owner without
-- it (as it should be) finds it made already by whoever set up the cluster.
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'stockroom_app') THEN
        BEGIN
            CREATE ROLE stockroom_app NOLOGIN;
        EXCEPTION WHEN insufficient_privilege THEN
            RAISE EXCEPTION 'the role stockroom_app does not exist and % may not create it', current_user
                USING HINT = 'create it first, as README''s "Database roles" says: CREATE ROLE stockroom_app NOLOGIN; GRANT stockroom_app TO '
                             || current_user || ';';
        END;
    END IF;
END
$$;

-- The log of record and the key audit trail: appended and read, nothing else.
GRANT SELECT, INSERT ON events, api_key_audit TO stockroom_app;
-- Rows the processes keep current but never delete.
GRANT SELECT, INSERT, UPDATE ON api_keys, console_users, catalogue_version, stock_levels,
    subscriptions TO stockroom_app;
-- Bookkeeping that is purged or consumed.
GRANT SELECT, INSERT, UPDATE, DELETE ON console_sessions, consumer_offsets, idempotency_keys,
    parked_events, payment_deadlines, processed_events, stock_holds TO stockroom_app;
-- `events.position` and the other identities (USAGE is nextval; no setval).
GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO stockroom_app;
GRANT USAGE ON SCHEMA read_models TO stockroom_app;
-- A rebuild moves its new tables in (ALTER TABLE … SET SCHEMA read_models).
GRANT CREATE ON SCHEMA read_models TO stockroom_app;

-- What `pg_restore --no-owner` loses and `stockroom migrate` (which calls this
-- every time) puts back: the read models belong to stockroom_app, since a
-- rebuild (run by the console or an operator's tool as a runtime role) drops
-- and swaps their tables, and stockroom_app may make a rebuild's private
-- schema in the database. A read_models table a later migration creates is
-- handed over here too.
CREATE FUNCTION grant_runtime_roles() RETURNS void
LANGUAGE plpgsql VOLATILE AS $$
DECLARE
    t regclass;
BEGIN
    IF NOT pg_has_role(current_user, 'stockroom_app', 'MEMBER') THEN
        RAISE EXCEPTION '% is not a member of stockroom_app, so it cannot hand it the read models', current_user
            USING HINT = 'as a superuser: GRANT stockroom_app TO ' || current_user || ' (README, "Database roles")';
    END IF;
    FOR t IN
        SELECT c.oid::regclass FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'read_models' AND c.relkind IN ('r', 'p')
          AND c.relowner <> 'stockroom_app'::regrole
    LOOP
        EXECUTE format('ALTER TABLE %s OWNER TO stockroom_app', t);
    END LOOP;
    IF has_database_privilege(current_database(), 'CREATE WITH GRANT OPTION') THEN
        EXECUTE format('GRANT CREATE ON DATABASE %I TO stockroom_app', current_database());
    ELSE
        RAISE WARNING '% may not grant CREATE on database %: rebuilds by stockroom_app will fail until its owner does',
            current_user, current_database();
    END IF;
END
$$;

-- The event log, the keys and the people are the owner's alone beyond the
-- grants above; nobody else gets anything by default.
REVOKE ALL ON ALL TABLES IN SCHEMA public FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION grant_runtime_roles() FROM PUBLIC;
REVOKE EXECUTE ON FUNCTION rebase_restored_log() FROM PUBLIC;

SELECT grant_runtime_roles();
