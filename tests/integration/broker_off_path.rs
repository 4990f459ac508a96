//! The broker is off the order path: Stockroom's own workers follow the log
//! in Postgres, so orders are confirmed and visible with no broker at all,
//! and two instances of each worker share the work with one active at a time.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::support::shop::{place, wait_status};
use crate::support::{eventually, System};

/// A port nothing listens on.
const NO_BROKER: &str = "127.0.0.1:9";

#[tokio::test(flavor = "multi_thread")]
async fn orders_are_confirmed_and_visible_with_no_broker_at_all() {
    let sys = System::start_with(
        &[("KAFKA_BROKERS", NO_BROKER)],
        &["relay", "projector", "reserver"],
    )
    .await;
    sys.stock_product("NOBROKER-1", 250, 100).await;
    let started = Instant::now();
    for _ in 0..10 {
        let placed = place(&sys, uuid::Uuid::new_v4(), &[("NOBROKER-1", 1)]).await;
        let id = placed["order_id"].as_str().unwrap();
        let position = placed["position"].as_i64().unwrap();
        // Read-your-writes: the order is there at the position it was placed at.
        let r = sys
            .http
            .get(format!("{}/v1/orders/{id}", sys.query_url()))
            .header("X-Min-Position", position)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let headers = r.headers().clone();
        if status != 200 {
            let state: Vec<(String, String)> = sqlx::query_as(
                "SELECT 'position ' || name, position::text FROM read_models.projection_positions \
                 UNION ALL SELECT 'subscription ' || name, position::text || ' settled ' || settled FROM subscriptions \
                 UNION ALL SELECT 'parked ' || consumer, error FROM parked_events \
                 UNION ALL SELECT 'row', status FROM read_models.orders WHERE order_id::text = $1",
            )
            .bind(id)
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
            panic!(
                "read at position {position} answered {status}: {}; state: {state:?}",
                r.text().await.unwrap()
            );
        }
        let r = headers;
        let seen: i64 = r["x-projection-position"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap();
        assert!(seen >= position);
        wait_status(&sys, id, "confirmed", Duration::from_secs(10)).await;
    }
    assert!(
        started.elapsed() < Duration::from_secs(30),
        "ten orders took {:?} without a broker",
        started.elapsed()
    );
    eventually(
        "the catalogue to show the reservations",
        Duration::from_secs(10),
        || async {
            let product: Value = sys.get("/v1/products/NOBROKER-1").await.json().await.ok()?;
            (product["reserved"] == 10).then_some(())
        },
    )
    .await;
    // The APIs are ready: no request of theirs needs the broker.
    for base in [sys.command_url(), sys.query_url()] {
        let r = sys.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        let body: Value = r.json().await.unwrap();
        assert_eq!(body["database"], true);
        assert_eq!(body["broker"], false);
    }
    // Nothing was published, and nothing was lost: the relay is simply behind.
    let published: i64 =
        sqlx::query_scalar("SELECT handled_events FROM subscriptions WHERE name = 'relay'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(published, 0);
}

/// Leases held on the test database: one per active subscription.
async fn leases(sys: &System) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database \
         WHERE l.locktype = 'advisory' AND l.granted AND d.datname = current_database()",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_standby_takes_over_within_seconds_when_the_active_worker_dies() {
    let mut sys = System::start_with(&[], &["reserver", "projector"]).await;
    sys.spawn_worker("reserver").await;
    sys.spawn_worker("projector").await;
    sys.stock_product("FAILOVER-1", 100, 1_000).await;
    // Four subscriptions (reserver, orders, catalogue, sales), one holder each.
    eventually(
        "one lease per subscription",
        Duration::from_secs(20),
        || async { (leases(&sys).await == 4).then_some(()) },
    )
    .await;
    let first = place(&sys, uuid::Uuid::new_v4(), &[("FAILOVER-1", 1)]).await;
    wait_status(
        &sys,
        first["order_id"].as_str().unwrap(),
        "confirmed",
        Duration::from_secs(10),
    )
    .await;

    // Kill each instance in turn; whichever was active, orders keep flowing.
    let mut takeovers = Vec::new();
    for victim in 0..sys.workers.len() {
        sys.workers[victim].kill_hard().await;
        let killed = Instant::now();
        let placed = place(&sys, uuid::Uuid::new_v4(), &[("FAILOVER-1", 1)]).await;
        wait_status(
            &sys,
            placed["order_id"].as_str().unwrap(),
            "confirmed",
            Duration::from_secs(15),
        )
        .await;
        takeovers.push(killed.elapsed());
        eventually(
            "the standby to hold every lease",
            Duration::from_secs(10),
            || async { (leases(&sys).await == 4).then_some(()) },
        )
        .await;
        let name = sys.workers[victim].name.clone();
        sys.workers[victim] = crate::support::Proc::spawn(&name, &[], &sys.env).await;
    }
    eprintln!("kill -9 → next order confirmed and visible: {takeovers:?}");
    assert!(
        takeovers.iter().all(|t| *t < Duration::from_secs(10)),
        "{takeovers:?}"
    );
    let confirmed: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderConfirmed'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(
        confirmed,
        1 + sys.workers.len() as i64,
        "each order confirmed exactly once"
    );
    let reserved: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'StockReserved'")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(reserved, confirmed, "no reservation was made twice");
}
