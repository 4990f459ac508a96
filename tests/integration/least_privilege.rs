//! The database roles are real (README, "Database roles"): the processes
//! connect as a runtime role that appends to the log but cannot delete,
//! rewrite or truncate it, holds no CREATEROLE and owns nothing of the log;
//! analysts read the read models and nothing else; a rebuild, run by the
//! runtime role, leaves every grant in place; and the real processes,
//! connected as the runtime role, take an order end to end.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use crate::support::process::run_tool;
use crate::support::shop::{place, wait_status};
use crate::support::{eventually, System, TestDb};

async fn connect(url: &str) -> PgPool {
    PgPoolOptions::new()
        .max_connections(2)
        .connect(url)
        .await
        .expect("connect")
}

/// Expects `pool` to read every read model.
async fn reads_read_models(pool: &PgPool, when: &str) {
    for table in [
        "orders",
        "products",
        "stock",
        "daily_sales",
        "sales_order_lines",
        "projection_positions",
    ] {
        sqlx::query(&format!("SELECT count(*) FROM read_models.{table}"))
            .execute(pool)
            .await
            .unwrap_or_else(|e| panic!("reads read_models.{table}{when}: {e}"));
    }
}

/// Runs `sql` and expects Postgres to refuse it for want of privilege.
async fn refused(pool: &PgPool, sql: &str) {
    match sqlx::query(sql).execute(pool).await {
        Err(sqlx::Error::Database(e)) => assert_eq!(
            e.code().as_deref(),
            Some("42501"),
            "{sql}: refused for another reason: {e}"
        ),
        Err(e) => panic!("{sql}: {e}"),
        Ok(_) => panic!("{sql}: allowed"),
    }
}

/// Given a log with events, when the runtime role tries to delete, rewrite or
/// truncate it or the key audit trail, then Postgres refuses every attempt
/// and the log is whole; it may still append, it has no CREATEROLE, and it
/// is no member of the log's owner.
#[tokio::test]
async fn the_runtime_role_cannot_delete_or_truncate_the_log() {
    let db = TestDb::create().await;
    db.create_key("admin", None).await;
    let app = connect(&db.app_url).await;
    let user: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&app)
        .await
        .unwrap();
    let owner: String = sqlx::query_scalar("SELECT current_user::text")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_ne!(user, owner, "the processes connect as a role of their own");

    // It appends (as the command API does), as itself.
    let appended = TestDb {
        url: db.app_url.clone(),
        app_url: db.app_url.clone(),
        pool: app.clone(),
    };
    appended.append_product_events("LP-1", 0, 3).await;
    assert_eq!(db.event_count().await, 3);

    for sql in [
        "DELETE FROM events",
        "TRUNCATE events",
        "UPDATE events SET event_type = 'OrderCancelled'",
        "DELETE FROM api_key_audit",
        "TRUNCATE api_key_audit",
        "UPDATE api_key_audit SET action = 'created'",
        "DELETE FROM api_keys",
        "TRUNCATE stock_levels",
        "ALTER TABLE events DISABLE TRIGGER USER",
        "DROP TABLE events",
        "SELECT setval('events_position_seq', 1)",
        "CREATE ROLE intruder LOGIN SUPERUSER",
        "CREATE ROLE intruder NOLOGIN",
        "GRANT stockroom_analyst TO CURRENT_USER",
    ] {
        refused(&app, sql).await;
    }
    assert_eq!(db.event_count().await, 3, "the log is whole");

    let (create_role, owns_log): (bool, bool) = sqlx::query_as(
        "SELECT r.rolcreaterole OR r.rolsuper, \
                pg_has_role(current_user, c.relowner, 'MEMBER') \
         FROM pg_roles r, pg_class c \
         WHERE r.rolname = current_user AND c.oid = 'events'::regclass",
    )
    .fetch_one(&app)
    .await
    .unwrap();
    assert!(!create_role, "{user} may not create roles");
    assert!(!owns_log, "{user} does not own the event log");
}

/// Given an analyst's log-in (a member of `stockroom_analyst`), when it reads,
/// then the read models answer and the keys, the people, their sessions,
/// the log and the bookkeeping are refused, and it writes nothing.
#[tokio::test]
async fn the_analyst_reads_read_models_only() {
    let db = TestDb::create().await;
    let analyst = connect(&db.analyst_url()).await;
    reads_read_models(&analyst, "").await;
    for sql in [
        "SELECT * FROM api_keys",
        "SELECT * FROM api_key_audit",
        "SELECT * FROM console_users",
        "SELECT * FROM console_sessions",
        "SELECT * FROM events",
        "SELECT * FROM idempotency_keys",
        "SELECT * FROM parked_events",
        "SELECT * FROM subscriptions",
        "DELETE FROM read_models.orders",
        "INSERT INTO read_models.projection_positions (name) VALUES ('x')",
    ] {
        refused(&analyst, sql).await;
    }
}

/// Given the runtime role's grants, when it rebuilds a projection (as the
/// console does), then the swapped-in tables keep their owner and grants:
/// the query API's, the projector's and the analyst's roles keep theirs, the
/// analyst still reads them and a second rebuild swaps them again.
#[tokio::test(flavor = "multi_thread")]
async fn grants_survive_a_rebuild_by_the_runtime_role() {
    let sys = System::start_with(&[], &["projector", "reserver"]).await;
    sys.stock_product("LP-2", 300, 10).await;
    let analyst = connect(&sys.db.analyst_url()).await;
    let owners = || async {
        sqlx::query_scalar::<_, String>(
            "SELECT DISTINCT pg_get_userbyid(c.relowner)::text FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'read_models' AND c.relkind = 'r'",
        )
        .fetch_all(&sys.db.pool)
        .await
        .unwrap()
    };
    assert_eq!(owners().await, ["stockroom_app"]);
    for round in 0..2 {
        for name in ["orders", "catalogue", "sales"] {
            let (status, out) = run_tool(&["projections", "rebuild", name], &sys.env).await;
            assert!(status.success(), "rebuild {name} (round {round}): {out}");
        }
        assert_eq!(owners().await, ["stockroom_app"], "after round {round}");
        let missing: Vec<String> = sqlx::query_scalar(
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = 'read_models' AND c.relkind = 'r' \
               AND NOT (has_table_privilege('stockroom_query_api', c.oid, 'SELECT') \
                        AND has_table_privilege('stockroom_projector', c.oid, 'SELECT') \
                        AND has_table_privilege('stockroom_projector', c.oid, 'INSERT') \
                        AND has_table_privilege('stockroom_projector', c.oid, 'UPDATE') \
                        AND has_table_privilege('stockroom_projector', c.oid, 'DELETE') \
                        AND has_table_privilege('stockroom_analyst', c.oid, 'SELECT'))",
        )
        .fetch_all(&sys.db.pool)
        .await
        .unwrap();
        assert!(
            missing.is_empty(),
            "grants lost after round {round}: {missing:?}"
        );
        reads_read_models(&analyst, &format!(" after rebuild round {round}")).await;
    }
    // The product, whether the rebuild replayed it or the live projector
    // applied it after the swap, reaches the analyst.
    eventually(
        "the analyst to read the product in the rebuilt catalogue",
        Duration::from_secs(30),
        || async {
            let skus: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.products")
                .fetch_one(&analyst)
                .await
                .unwrap();
            (skus == 1).then_some(())
        },
    )
    .await;
}

/// Given every process started as its own role (the APIs and the workers
/// with their groups' grants only), when an order is placed, then it is
/// confirmed and served, and every session the processes hold is one of
/// those roles'.
#[tokio::test(flavor = "multi_thread")]
async fn the_processes_run_end_to_end_as_their_own_roles() {
    let sys = System::start().await;
    assert_ne!(sys.db.url, sys.db.app_url);
    sys.stock_product("LP-3", 250, 5).await;
    let placed = place(&sys, uuid::Uuid::new_v4(), &[("LP-3", 2)]).await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(60)).await;
    let logins = [
        "stockroom_command_api_login",
        "stockroom_projector_login",
        "stockroom_query_api_login",
        "stockroom_relay_login",
        "stockroom_reserver_login",
    ];
    eventually(
        "every process's sessions as its own role",
        Duration::from_secs(10),
        || async {
            let users: Vec<String> = sqlx::query_scalar(
                "SELECT DISTINCT usename::text FROM pg_stat_activity \
                 WHERE datname = current_database() AND usename <> current_user ORDER BY 1",
            )
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
            (users == logins).then_some(())
        },
    )
    .await;
}

/// Given each process's role, when one tries what only another process
/// does, then Postgres refuses it: the query API and the workers that only
/// read the log cannot append to it, no process can revoke or extend a key, the
/// command API cannot write read models, the relay cannot touch the stock
/// rows, and the projector cannot purge the reservation process's deadlines.
#[tokio::test]
async fn each_process_role_holds_only_its_own_grants() {
    let db = TestDb::create().await;
    let as_process = |process: &str| crate::support::db::url_for_process(&db.app_url, process);
    let append = "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                                      event_type, schema_version, data, correlation_id) \
                  VALUES (gen_random_uuid(), 'order-x', 'order', 'x', 1, 'OrderPlaced', 1, '{}', gen_random_uuid())";
    for (process, refusals) in [
        (
            "query-api",
            vec![
                append,
                "UPDATE api_keys SET revoked_at = NULL",
                "INSERT INTO read_models.projection_positions (name) VALUES ('x')",
                "SELECT * FROM console_users",
            ],
        ),
        (
            "command-api",
            vec![
                "UPDATE api_keys SET revoked_at = NULL",
                "UPDATE api_keys SET expires_at = NULL",
                "INSERT INTO api_key_audit (key_id, action, actor) VALUES (gen_random_uuid(), 'created', 'x')",
                "DELETE FROM read_models.orders",
                "SELECT * FROM console_sessions",
                "DELETE FROM idempotency_keys",
            ],
        ),
        (
            "relay",
            vec![append, "UPDATE stock_levels SET reserved = 0", "UPDATE api_keys SET revoked_at = NULL"],
        ),
        (
            "projector",
            vec![append, "DELETE FROM payment_deadlines", "SELECT * FROM console_users"],
        ),
        (
            "reserver",
            vec!["SELECT * FROM console_sessions", "DELETE FROM read_models.orders", "DELETE FROM events"],
        ),
    ] {
        let url = as_process(process);
        assert_ne!(url, db.app_url, "{process} has a role of its own");
        let pool = connect(&url).await;
        for sql in refusals {
            refused(&pool, sql).await;
        }
    }
}
