//! A database moved to a new cluster with `pg_dump` / `pg_restore` works
//! after `stockroom migrate`: the log and its cursors carried the old
//! cluster's transaction ids, far above what the new one hands out, and an
//! order placed on the copy was never decided.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::infra::exclusive;
use crate::support::db::admin_url;
use crate::support::process::{as_postgres_user, is_root, run_tool};
use crate::support::shop::{place, wait_decided, wait_status};
use crate::support::system::env_for;
use crate::support::{eventually, System, TestDb};

fn pg_tool(name: &str) -> PathBuf {
    let pg_ctl = std::env::var("STOCKROOM_TEST_PG_CTL").expect("run the tests with scripts/test");
    PathBuf::from(pg_ctl).with_file_name(name)
}

/// Runs a Postgres server program as the cluster's owner (they refuse root).
fn as_owner(program: &str, args: &[&str]) {
    let status = as_postgres_user(pg_tool(program))
        .args(args)
        .status()
        .unwrap();
    assert!(status.success(), "{program} {args:?} failed");
}

/// A second Postgres cluster, new from `initdb`, stopped and removed on drop.
struct SecondCluster {
    dir: PathBuf,
    port: u16,
}

impl SecondCluster {
    fn start() -> Self {
        let dir = std::env::temp_dir().join(crate::support::unique("stockroom-restore-"));
        std::fs::create_dir_all(&dir).unwrap();
        if is_root() {
            let status = Command::new("chown")
                .args(["postgres"])
                .arg(&dir)
                .status()
                .unwrap();
            assert!(status.success());
        }
        let data = dir.join("data");
        let data = data.to_str().unwrap();
        as_owner(
            "initdb",
            &["-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8"],
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let options = format!(
            "-p {port} -c listen_addresses=127.0.0.1 -c unix_socket_directories={} -c fsync=off",
            dir.display()
        );
        let log = dir.join("postgres.log");
        as_owner(
            "pg_ctl",
            &[
                "-D",
                data,
                "-l",
                log.to_str().unwrap(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        Self { dir, port }
    }

    fn url(&self, user: &str, database: &str) -> String {
        format!(
            "postgres://{user}:stockroom@127.0.0.1:{}/{database}",
            self.port
        )
    }
}

impl Drop for SecondCluster {
    fn drop(&mut self) {
        let data = self.dir.join("data");
        as_owner(
            "pg_ctl",
            &[
                "-D",
                data.to_str().unwrap(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Given a shop with orders on one cluster, when its database is dumped,
/// restored into a new cluster and migrated, then the restored orders are
/// there, the processes started on the copy decide a new order, stock can be
/// received, and the new order is read back at the position its command
/// answered with.
#[tokio::test(flavor = "multi_thread")]
async fn a_dump_restored_into_a_new_cluster_works_after_migrate() {
    let _serial = exclusive().await;
    let db = TestDb::create().await;
    // The old cluster is well ahead of a new one, as any cluster that served
    // a shop for a while is.
    // (Each statement on its own: a procedure commits only outside an
    // implicit multi-statement transaction.)
    for statement in [
        "CREATE PROCEDURE burn_ids(n int) LANGUAGE plpgsql AS $$ \
         BEGIN FOR i IN 1..n LOOP PERFORM pg_current_xact_id(); COMMIT; END LOOP; END $$",
        "CALL burn_ids(20000)",
        "DROP PROCEDURE burn_ids(int)",
    ] {
        sqlx::query(statement).execute(&db.pool).await.unwrap();
    }
    let sys = System::start_on(db, &[], &["projector", "reserver"]).await;
    sys.stock_product("MOVE-1", 500, 50).await;
    let mut old_orders = Vec::new();
    for _ in 0..5 {
        let placed = place(&sys, uuid::Uuid::new_v4(), &[("MOVE-1", 2)]).await;
        old_orders.push(placed["order_id"].as_str().unwrap().to_owned());
    }
    wait_decided(&sys, 5).await;
    for id in &old_orders {
        wait_status(&sys, id, "confirmed", Duration::from_secs(30)).await;
    }
    let old_url = sys.db.url.clone();
    drop(sys);

    let dump = std::env::temp_dir().join(crate::support::unique("stockroom-dump-"));
    let status = Command::new(pg_tool("pg_dump"))
        .args(["-Fc", "-f"])
        .arg(&dump)
        .arg(&old_url)
        .status()
        .unwrap();
    assert!(status.success(), "pg_dump");

    let cluster = SecondCluster::start();
    let mut admin = PgConnection::connect(&cluster.url("postgres", "postgres"))
        .await
        .unwrap();
    // The role the old database's objects belong to (scripts/test's).
    let owner = admin_url()
        .split("://")
        .nth(1)
        .and_then(|rest| rest.split(':').next())
        .unwrap()
        .to_owned();
    // Roles live in the cluster, not the dump: an operator carries them over
    // first (`pg_dumpall --roles-only`, as the README says).
    for statement in [
        "CREATE ROLE stockroom_analyst NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_app NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_command_api NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_query_api NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_relay NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_projector NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_reserver NOLOGIN".to_owned(),
        "CREATE ROLE stockroom_webhooks NOLOGIN".to_owned(),
        format!("CREATE ROLE {owner} LOGIN PASSWORD 'stockroom'"),
        format!("GRANT stockroom_app TO {owner}"),
        format!("CREATE DATABASE shop OWNER {owner}"),
    ] {
        sqlx::query(&statement).execute(&mut admin).await.unwrap();
    }
    let new_url = cluster.url(&owner, "shop");
    let status = Command::new(pg_tool("pg_restore"))
        .args(["--no-owner", "--exit-on-error", "-d", &new_url])
        .arg(&dump)
        .status()
        .unwrap();
    let _ = std::fs::remove_file(&dump);
    assert!(status.success(), "pg_restore");

    let copy = TestDb::existing(&new_url).await;
    let mut conn = PgConnection::connect(&new_url).await.unwrap();
    let refused = store::db::check_cluster_ids(&mut conn).await;
    assert!(
        matches!(refused, Err(store::StoreError::RestoredCopy)),
        "the copy carries the old cluster's ids, beyond this one's: {refused:?}"
    );

    // Before the rebase, the command API takes no appends: they would sort
    // before the restored log and never be read.
    let early = System::start_on(TestDb::existing(&new_url).await, &[], &[]).await;
    let refused = early
        .post("/v1/stock/MOVE-1/receipts", json!({"quantity": 5}))
        .await;
    assert_eq!(refused.status(), 503, "{}", refused.text().await.unwrap());
    let appended: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE transaction_id < pg_snapshot_xmax(pg_current_snapshot())",
    )
    .fetch_one(&copy.pool)
    .await
    .unwrap();
    assert_eq!(appended, 0, "nothing appended with this cluster's ids");
    drop(early);

    let env = env_for(&copy, "unused", &[]);
    let (status, _) = run_tool(&["migrate"], &env).await;
    assert!(status.success(), "stockroom migrate on the copy");
    store::db::check_cluster_ids(&mut conn)
        .await
        .expect("rebased for this cluster");

    let sys = System::start_on(copy, &[], &["projector", "reserver"]).await;
    for id in &old_orders {
        let r = sys.get(&format!("/v1/orders/{id}")).await;
        assert_eq!(r.status(), 200, "a restored order is still served");
    }
    let receipt = sys
        .post("/v1/stock/MOVE-1/receipts", json!({"quantity": 5}))
        .await;
    assert!(
        receipt.status().is_success(),
        "stock received on the copy: {}",
        receipt.status()
    );
    let placed = place(&sys, uuid::Uuid::new_v4(), &[("MOVE-1", 3)]).await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    let position = placed["position"].as_i64().unwrap();
    let read = sys
        .http
        .get(format!("{}/v1/orders/{id}", sys.query_url()))
        .header("x-min-position", position.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(
        read.status(),
        200,
        "the new order is read back at its position"
    );
    wait_status(&sys, &id, "confirmed", Duration::from_secs(60)).await;
    let on_hand = eventually(
        "the copy's stock to count the new order",
        Duration::from_secs(30),
        || async {
            let r: serde_json::Value = sys.get("/v1/stock/MOVE-1").await.json().await.ok()?;
            (r["reserved"] == 13).then_some(r)
        },
    )
    .await;
    assert_eq!(on_hand["on_hand"], 55, "{on_hand}");
    drop(sys);
    drop(cluster);
}
