//! Every Stockroom connection works under the settings its correctness
//! rests on, whatever the cluster's or the database's defaults say.

use sqlx::{ConnectOptions, Connection, Row};

use crate::support::TestDb;

/// Given a database whose default isolation is `repeatable read`, when
/// Stockroom connects, then its sessions run READ COMMITTED, with a lock
/// wait bound and an idle-in-transaction bound.
#[tokio::test(flavor = "multi_thread")]
async fn connections_pin_read_committed_and_their_timeouts_whatever_the_default() {
    let db = TestDb::create().await;
    let name: String = sqlx::query_scalar("SELECT current_database()")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    sqlx::query(&format!(
        "ALTER DATABASE \"{name}\" SET default_transaction_isolation = 'repeatable read'"
    ))
    .execute(&db.pool)
    .await
    .unwrap();
    let mut conn = store::db::connect_options(&db.url)
        .unwrap()
        .connect()
        .await
        .unwrap();
    let row = sqlx::query(
        "SELECT current_setting('transaction_isolation') AS isolation, \
                current_setting('lock_timeout') AS lock_timeout, \
                current_setting('idle_in_transaction_session_timeout') AS idle",
    )
    .fetch_one(&mut conn)
    .await
    .unwrap();
    assert_eq!(row.get::<String, _>("isolation"), "read committed");
    assert_eq!(
        row.get::<String, _>("lock_timeout"),
        store::db::LOCK_TIMEOUT
    );
    assert_eq!(row.get::<String, _>("idle"), "1min");

    // The migrations bound every session of the database, psql's too.
    let mut plain = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let idle: String =
        sqlx::query_scalar("SELECT current_setting('idle_in_transaction_session_timeout')")
            .fetch_one(&mut plain)
            .await
            .unwrap();
    assert_eq!(idle, "1min");
}

/// Given a rebuild that died without clearing its flag (kill -9), when its
/// status is asked, then it is not rebuilding; while a rebuild holds its
/// guard lock, it is.
#[tokio::test(flavor = "multi_thread")]
async fn a_rebuild_is_running_only_while_its_guard_lock_is_held() {
    let db = TestDb::create().await;
    sqlx::query(
        "UPDATE read_models.projection_positions SET rebuilding = true WHERE name = 'orders'",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let running = |pool: sqlx::PgPool| async move {
        sqlx::query_scalar::<_, bool>("SELECT rebuilding AND rebuild_running(name) FROM read_models.projection_positions WHERE name = 'orders'")
            .fetch_one(&pool)
            .await
            .unwrap()
    };
    assert!(!running(db.pool.clone()).await, "a dead rebuild's flag");
    let mut guard = sqlx::PgConnection::connect(&db.url).await.unwrap();
    let locked: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_lock(hashtextextended('stockroom-rebuild:' || 'orders', 0))",
    )
    .fetch_one(&mut guard)
    .await
    .unwrap();
    assert!(locked);
    assert!(running(db.pool.clone()).await, "a live rebuild");
    guard.close().await.unwrap();
    // The server frees the lock as the backend exits, a moment after the
    // client has gone.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while running(db.pool.clone()).await {
        assert!(std::time::Instant::now() < deadline, "its session ended");
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}
