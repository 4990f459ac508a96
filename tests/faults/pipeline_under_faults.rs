//! The whole pipeline under steady load while every kind of fault happens in
//! turn: kill -9 of each worker with a restart, the broker paused for 15 s,
//! Postgres crashed and started again. Afterwards every accepted order is
//! decided, stock holds exactly what the confirmed orders hold, the read
//! models verify against the log, and every event reached Kafka.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};
use tokio::time::Instant;

use crate::infra::{broker_pid, crash_and_start_postgres, exclusive};
use crate::support::kafka::read_until;
use crate::support::process::signal;
use crate::support::shop::assert_verified;
use crate::support::{eventually, Proc, System};

const SKUS: [&str; 5] = ["FAULT-A", "FAULT-B", "FAULT-C", "FAULT-D", "FAULT-E"];

/// Resumes the broker even if the test fails half-way.
struct Resume(u32);

impl Drop for Resume {
    fn drop(&mut self) {
        signal(self.0, "CONT");
    }
}

/// Orders the load got a 202 for: id, SKU, quantity.
type Accepted = Arc<Mutex<Vec<(String, String, i64)>>>;

/// Places orders at a steady rate until told to stop; keeps the accepted ones.
fn start_load(
    sys: &Arc<System>,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> (tokio::task::JoinHandle<()>, Accepted) {
    let accepted = Arc::new(Mutex::new(Vec::new()));
    let (sys, sink) = (Arc::clone(sys), Arc::clone(&accepted));
    let task = tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(50));
        let mut n = 0usize;
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            tick.tick().await;
            n += 1;
            let sku = SKUS[n % SKUS.len()];
            let quantity = 1 + (n % 3) as i64;
            let sent = tokio::time::timeout(
                Duration::from_secs(5),
                sys.post(
                    "/v1/orders",
                    json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": sku, "quantity": quantity}]}),
                ),
            )
            .await;
            if let Ok(r) = sent {
                if r.status() == 202 {
                    let body: Value = r.json().await.unwrap();
                    let id = body["order_id"].as_str().unwrap().to_owned();
                    sink.lock().unwrap().push((id, sku.to_owned(), quantity));
                }
            }
        }
    });
    (task, accepted)
}

async fn status_of(sys: &System, order_id: &str) -> Option<String> {
    sqlx::query_scalar(
        "SELECT CASE WHEN bool_or(event_type = 'OrderConfirmed') THEN 'confirmed' \
                     WHEN bool_or(event_type = 'OrderRejected') THEN 'rejected' END \
         FROM events WHERE stream_id = 'order-' || $1",
    )
    .bind(order_id)
    .fetch_one(&sys.db.pool)
    .await
    .ok()
    .flatten()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_is_decided_and_every_event_published_after_a_series_of_faults() {
    let _serial = exclusive().await;
    let mut sys = System::start().await;
    for sku in SKUS {
        sys.stock_product(sku, 100, 100_000).await;
    }
    // The processes outlive the load task's borrow: share the system.
    let workers = std::mem::take(&mut sys.workers);
    let sys = Arc::new(sys);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (load, accepted) = start_load(&sys, Arc::clone(&stop));
    tokio::time::sleep(Duration::from_secs(3)).await;

    // kill -9 each worker in turn, restarting it.
    let mut procs = workers;
    for proc in &mut procs {
        let name = proc.name.clone();
        proc.kill_hard().await;
        tokio::time::sleep(Duration::from_secs(2)).await;
        *proc = Proc::spawn(&name, &[], &sys.env).await;
        tokio::time::sleep(Duration::from_secs(3)).await;
    }

    // The broker paused for 15 s: orders placed meanwhile are still
    // confirmed promptly, since no worker of ours needs the broker.
    let broker = broker_pid();
    signal(broker, "STOP");
    let resume = Resume(broker);
    tokio::time::sleep(Duration::from_secs(5)).await;
    let during = accepted.lock().unwrap().last().cloned().unwrap();
    let placed_during = Instant::now();
    eventually(
        "an order placed while the broker is paused to be confirmed",
        Duration::from_secs(5),
        || async { status_of(&sys, &during.0).await.is_some().then_some(()) },
    )
    .await;
    let confirmed_within = placed_during.elapsed();
    tokio::time::sleep(Duration::from_secs(10)).await;
    drop(resume);

    // Postgres crashes and comes back.
    crash_and_start_postgres();
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    load.await.unwrap();
    let last_fault = Instant::now();

    let accepted = accepted.lock().unwrap().clone();
    assert!(
        accepted.len() > 300,
        "only {} orders were accepted",
        accepted.len()
    );
    eventually(
        "every accepted order to be decided",
        Duration::from_secs(60),
        || async {
            let decided: i64 = sqlx::query_scalar(
                "SELECT count(DISTINCT stream_id) FROM events \
             WHERE event_type IN ('OrderConfirmed', 'OrderRejected')",
            )
            .fetch_one(&sys.db.pool)
            .await
            .ok()?;
            (decided >= accepted.len() as i64).then_some(())
        },
    )
    .await;
    eprintln!(
        "{} orders accepted; all decided {:?} after the last fault; an order placed while the broker was paused was decided within {:?}",
        accepted.len(),
        last_fault.elapsed(),
        confirmed_within,
    );
    for (id, _, _) in &accepted {
        assert_eq!(
            status_of(&sys, id).await.as_deref(),
            Some("confirmed"),
            "order {id}"
        );
    }

    // Stock holds exactly what the confirmed orders hold, in the log and in
    // the read model. The log, not the client, says which orders exist: a
    // request that timed out on the client during the Postgres crash may
    // still have committed (and must then be decided like any other).
    let placed: Vec<(String, String, i64, bool)> = sqlx::query_as(
        "SELECT p.aggregate_id, l->>'sku', (l->>'quantity')::bigint, \
                EXISTS (SELECT 1 FROM events c WHERE c.stream_id = p.stream_id AND c.event_type = 'OrderConfirmed') \
         FROM events p, jsonb_array_elements(p.data->'lines') l WHERE p.event_type = 'OrderPlaced'",
    )
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert!(placed.len() >= accepted.len());
    eprintln!(
        "{} orders in the log, {} answered 202 to the client",
        placed.len(),
        accepted.len()
    );
    assert!(
        placed.iter().all(|(.., confirmed)| *confirmed),
        "every order in the log is confirmed"
    );
    let mut expected: HashMap<String, i64> = HashMap::new();
    for (_, sku, quantity, _) in &placed {
        *expected.entry(sku.clone()).or_default() += quantity;
    }
    for sku in SKUS {
        let want = expected.get(sku).copied().unwrap_or(0);
        let in_log: i64 = sqlx::query_scalar(
            "SELECT coalesce(sum(CASE event_type WHEN 'StockReserved' THEN (data->>'quantity')::bigint \
                                           WHEN 'StockReleased' THEN -(data->>'quantity')::bigint ELSE 0 END), 0)::bigint \
             FROM events WHERE stream_id = 'stock-' || $1",
        )
        .bind(sku)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        assert_eq!(in_log, want, "{sku} reserved in the log");
        let product: Value = eventually(
            "the catalogue to catch up",
            Duration::from_secs(60),
            || async {
                let p: Value = sys
                    .get(&format!("/v1/products/{sku}"))
                    .await
                    .json()
                    .await
                    .ok()?;
                (p["reserved"] == want).then_some(p)
            },
        )
        .await;
        assert_eq!(product["available"], 100_000 - want);
    }
    assert_verified(&sys).await;

    // Every event reached Kafka once the broker was back.
    let total: i64 = sys.db.event_count().await;
    eventually(
        "the relay to publish everything",
        Duration::from_secs(120),
        || async {
            let published: bool = sqlx::query_scalar(
                "SELECT settled >= (SELECT max(position) FROM events) FROM subscriptions WHERE name = 'relay'",
            )
            .fetch_one(&sys.db.pool)
            .await
            .ok()?;
            published.then_some(())
        },
    )
    .await;
    let topics = vec![
        sys.topic("products"),
        sys.topic("stock"),
        sys.topic("orders"),
    ];
    let (mut ids, mut counted) = (HashSet::new(), 0);
    read_until(&topics, Duration::from_secs(120), |received| {
        for r in &received[counted..] {
            ids.insert(r.value["event_id"].as_str().unwrap_or_default().to_owned());
        }
        counted = received.len();
        ids.len() as i64 >= total
    })
    .await;
    assert_eq!(ids.len() as i64, total, "every event is on Kafka");
    drop(procs);
}
