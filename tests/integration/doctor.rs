//! Stalls explain themselves: a transaction left open holds the log back;
//! the worker's log and `stockroom doctor` name its backend, and doctor's
//! exit status says when a person is needed.

use std::time::{Duration, Instant};

use serde_json::json;
use sqlx::{Connection, PgConnection};

use crate::support::process::run_tool;
use crate::support::shop::wait_status;
use crate::support::System;

#[tokio::test(flavor = "multi_thread")]
async fn an_open_transaction_is_named_by_the_worker_it_holds_back_and_by_doctor() {
    let sys = System::start_with(&[], &["relay", "reserver", "projector"]).await;
    sys.stock_product("DOC-1", 100, 10).await;

    // A session that wrote something and went idle in its transaction, as a
    // forgotten psql or a stuck migration would.
    let mut blocker = PgConnection::connect(&sys.db.url).await.unwrap();
    sqlx::raw_sql("BEGIN").execute(&mut blocker).await.unwrap();
    let pid: i32 = sqlx::query_scalar("SELECT pg_backend_pid()")
        .fetch_one(&mut blocker)
        .await
        .unwrap();
    sqlx::query("SELECT pg_current_xact_id()")
        .execute(&mut blocker)
        .await
        .unwrap();
    sqlx::query("SELECT 'left open by the test'")
        .execute(&mut blocker)
        .await
        .unwrap();

    let placed: serde_json::Value = sys
        .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "DOC-1", "quantity": 1}]}))
        .await
        .json()
        .await
        .unwrap();
    let id = placed["order_id"].as_str().unwrap().to_owned();

    // The reserver cannot pass the open transaction: the order waits, and
    // after a few seconds the reserver says who holds it.
    let reserver_log = sys.workers[1].log.clone();
    let named = format!("blocker_pid={pid}");
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let log = std::fs::read_to_string(&reserver_log).unwrap_or_default();
        if log.contains("held back by an open transaction") && log.contains(&named) {
            assert!(log.contains("left open by the test"), "{log}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the reserver never named the blocker:\n{log}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let confirmed: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_id = $1 AND event_type = 'OrderConfirmed'",
    )
    .bind(&id)
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(
        confirmed, 0,
        "the order was decided past an open transaction"
    );

    let (status, out) = run_tool(&["doctor"], &sys.env).await;
    assert!(
        out.contains(&format!("held back by backend {pid}")),
        "{out}"
    );
    assert!(out.contains("[warn]"), "{out}");
    assert!(status.success(), "only warnings, yet doctor failed:\n{out}");
    let (strict, _) = run_tool(&["doctor", "--strict"], &sys.env).await;
    assert!(!strict.success(), "--strict passed with warnings");

    // The transaction ends: the order goes through and doctor is content.
    sqlx::raw_sql("COMMIT").execute(&mut blocker).await.unwrap();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (status, out) = run_tool(&["doctor", "--strict"], &sys.env).await;
        if status.success() {
            assert!(!out.contains("[warn]") && !out.contains("[FAIL]"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "doctor never passed:\n{out}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // A key about to expire is worth a warning; a parked event needs a person.
    let (key_id, _) = sys.db.create_key_with("staff", None, None).await;
    sqlx::query("UPDATE api_keys SET expires_at = now() + interval '1 day' WHERE id = $1")
        .bind(key_id)
        .execute(&sys.db.pool)
        .await
        .unwrap();
    let (status, out) = run_tool(&["doctor"], &sys.env).await;
    assert!(status.success(), "{out}");
    assert!(out.contains(&format!("({key_id}, staff) expires")), "{out}");
    sqlx::query(
        "INSERT INTO parked_events (consumer, event_id, position, topic, partition, \"offset\", envelope, error, attempts) \
         VALUES ('reserver', $1, 1, 'log', 0, 1, '{}', 'test', 1)",
    )
    .bind(uuid::Uuid::new_v4())
    .execute(&sys.db.pool)
    .await
    .unwrap();
    let (status, out) = run_tool(&["doctor"], &sys.env).await;
    assert!(!status.success(), "a parked event passed:\n{out}");
    assert!(out.contains("[FAIL] reserver: 1 parked events"), "{out}");
}
