//! The streaming replica `scripts/test` runs beside the primary (a hot
//! standby on `STOCKROOM_TEST_STANDBY_PORT`): URLs on it, waiting for its
//! replay, pausing it, and stopping and starting it.

use std::time::Duration;

use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;

use super::TestDb;

/// The standby's port.
pub fn port() -> u16 {
    std::env::var("STOCKROOM_TEST_STANDBY_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .expect("STOCKROOM_TEST_STANDBY_PORT (scripts/test starts the standby)")
}

/// The primary's port, as the admin URL has it.
fn primary_port() -> u16 {
    let admin = super::db::admin_url();
    let after_host = admin.rsplit_once('@').expect("a user in the URL").1;
    let (_, rest) = after_host.split_once(':').expect("a port in the URL");
    rest.split('/').next().unwrap().parse().unwrap()
}

/// `url` (on the primary) pointed at the standby.
pub fn url(url: &str) -> String {
    url.replacen(
        &format!(":{}/", primary_port()),
        &format!(":{}/", port()),
        1,
    )
}

/// The URL a process started as `subcommand` reads the standby with, given
/// `url` (on the standby, as a test sets `STOCKROOM_QUERY_DATABASE_URL`):
/// its own role's, as on the primary.
pub fn url_for_process(standby_url: &str, subcommand: &str) -> String {
    let on_primary = standby_url.replacen(
        &format!(":{}/", port()),
        &format!(":{}/", primary_port()),
        1,
    );
    url(&super::db::url_for_process(&on_primary, subcommand))
}

/// A pool on `db`'s copy on the standby, as the owner, once the standby has
/// replayed the database's creation and migrations.
pub async fn pool(db: &TestDb) -> PgPool {
    caught_up(db).await;
    PgPoolOptions::new()
        .max_connections(4)
        .connect_with(store::db::connect_options(&url(&db.url)).expect("a database URL"))
        .await
        .expect("connect to the standby")
}

/// Waits until the standby has replayed everything the primary had written
/// when called.
pub async fn caught_up(db: &TestDb) {
    let written = store::replica::wal_insert_location(&db.pool).await.unwrap();
    let admin = url(&super::db::admin_url());
    super::eventually("the standby to replay", Duration::from_secs(30), || {
        let admin = admin.clone();
        async move {
            let options = store::db::connect_options(&admin).ok()?;
            let replica = PgPoolOptions::new()
                .max_connections(1)
                .connect_with(options)
                .await
                .ok()?;
            let replayed = store::replica::replayed_location(&replica).await.ok()??;
            replica.close().await;
            (replayed >= written).then_some(())
        }
    })
    .await;
}

/// Pauses (or resumes) the standby's replay: it keeps receiving WAL and
/// answering reads, with what it had replayed. Asked in the standby's
/// `postgres` database, the one where `scripts/test` lets the owner do it
/// (a grant there stays out of every test database and its dumps).
pub async fn pause_replay(paused: bool) {
    let sql = if paused {
        "SELECT pg_wal_replay_pause()"
    } else {
        "SELECT pg_wal_replay_resume()"
    };
    let options = store::db::connect_options(&url(&super::db::admin_url())).unwrap();
    let mut conn = sqlx::ConnectOptions::connect(&options).await.unwrap();
    sqlx::query(sql).execute(&mut conn).await.unwrap();
}

/// Runs the standby's `pg_ctl` with `args`, as the cluster's owner.
fn pg_ctl(args: &[&str]) {
    let pg_ctl = std::env::var("STOCKROOM_TEST_PG_CTL").expect("STOCKROOM_TEST_PG_CTL");
    let data =
        std::env::var("STOCKROOM_TEST_STANDBY_PG_DATA").expect("STOCKROOM_TEST_STANDBY_PG_DATA");
    let log =
        std::env::var("STOCKROOM_TEST_STANDBY_PG_LOG").expect("STOCKROOM_TEST_STANDBY_PG_LOG");
    let status = super::process::as_postgres_user(pg_ctl)
        .args(["-D", &data, "-l", &log, "-w", "-t", "60"])
        .args(args)
        .status()
        .expect("run pg_ctl");
    assert!(status.success(), "pg_ctl {args:?} failed");
}

/// Kills the standby at once (no shutdown checkpoint), as a crash would.
pub fn kill() {
    pg_ctl(&["-m", "immediate", "stop"]);
}

/// Starts the standby again; it resumes streaming from the primary.
pub fn start() {
    pg_ctl(&["start"]);
}

/// Ends the primary's walsender feeding the standby: the standby serves
/// what it had until its walreceiver connects again (seconds later).
pub async fn cut_stream(primary: &PgPool) -> bool {
    sqlx::query_scalar(
        "SELECT coalesce(bool_and(pg_terminate_backend(pid)), false) \
         FROM pg_stat_activity WHERE backend_type = 'walsender'",
    )
    .fetch_one(primary)
    .await
    .unwrap()
}

/// A whole system whose query API reads the standby (with `extra`
/// environment and `workers`), once the standby holds its new database.
pub async fn system(extra: &[(&str, &str)], workers: &[&str]) -> super::System {
    let db = TestDb::create().await;
    caught_up(&db).await;
    let replica = url(&db.app_url);
    let mut env = vec![("STOCKROOM_QUERY_DATABASE_URL", replica.as_str())];
    env.extend_from_slice(extra);
    super::System::start_on(db, &env, workers).await
}
