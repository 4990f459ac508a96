//! One order from HTTP through Postgres and Kafka to the query API, with the
//! workers on the log (the default) and on Kafka.

use std::collections::HashMap;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::Row;

use crate::support::kafka::read_until;
use crate::support::shop::{assert_verified, place, wait_caught_up_within, wait_decided};
use crate::support::{eventually, Proc, System};

#[tokio::test(flavor = "multi_thread")]
async fn an_order_flows_from_http_through_the_store_and_kafka_to_the_query_api() {
    order_flows_end_to_end(&[]).await;
}

/// The same flow with Stockroom's own workers consuming Kafka instead of the log.
#[tokio::test(flavor = "multi_thread")]
async fn workers_can_consume_kafka_instead_of_the_log() {
    order_flows_end_to_end(&[("STOCKROOM_SOURCE", "kafka")]).await;
}

/// Workers switched from the log to Kafka mid-stream: the Kafka members wait
/// while the log followers lead, then take over from the public topics'
/// beginning and skip everything the log checkpoints cover, so every read
/// model still equals one application of every event.
#[tokio::test(flavor = "multi_thread")]
async fn switching_the_workers_to_kafka_handles_every_event_once() {
    let mut sys = System::start().await;
    sys.stock_product("MUG-1", 1200, 1000).await;
    place_five(&sys).await;
    wait_decided(&sys, 5).await;

    let mut env = sys.env.clone();
    env.push(("STOCKROOM_SOURCE".into(), "kafka".into()));
    env.push(("STOCKROOM_STANDBY_RETRY".into(), "200ms".into()));
    for worker in ["projector", "reserver"] {
        sys.workers.push(Proc::spawn(worker, &[], &env).await);
    }
    place_five(&sys).await;
    wait_decided(&sys, 10).await;
    // The log followers go; the Kafka members take the lease over.
    for log_worker in 1..=2 {
        assert!(sys.workers[log_worker].terminate().await.success());
    }
    place_five(&sys).await;
    let total = 15;
    wait_decided(&sys, total).await;
    // Each projection is its own consumer group, and the local broker's
    // groups are slow to settle (README, "The local broker": up to ~30 s
    // for a new group's first assignment on a quiet machine); in a loaded
    // suite the three groups have taken longer than the usual bound.
    wait_caught_up_within(&sys, Duration::from_secs(300)).await;

    let (confirmed, units): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM events WHERE event_type = 'OrderConfirmed'), \
                (SELECT coalesce(sum(units_confirmed), 0)::bigint FROM read_models.daily_sales)",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(confirmed, total, "each order reserved once");
    assert_eq!(units, total, "each confirmation counted once");
    assert_verified(&sys).await;
}

/// A Kafka message can arrive before the relay records it as published, and
/// a projection publishes no position past the relay's: once the relay has
/// settled, the position catches up with no further message to carry it.
#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_fed_projection_publishes_its_position_once_the_relay_settles() {
    let sys = System::start_with(&[("STOCKROOM_SOURCE", "kafka")], &["relay", "projector"]).await;
    sys.stock_product("MUG-1", 1200, 10).await;
    wait_caught_up_within(&sys, Duration::from_secs(120)).await;

    // The relay publishes the next receipt but cannot record it. A table
    // lock takes no transaction id, so the log's horizon does not wait on
    // it as it would on a row lock.
    let mut blocker = sys.db.pool.begin().await.unwrap();
    sqlx::query("LOCK TABLE subscriptions IN EXCLUSIVE MODE")
        .execute(&mut *blocker)
        .await
        .unwrap();
    let r = sys
        .post("/v1/stock/MUG-1/receipts", json!({"quantity": 5}))
        .await;
    assert_eq!(r.status(), 200);
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    eventually("the catalogue to apply the receipt from Kafka", Duration::from_secs(60), || async {
        let applied: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM processed_events WHERE consumer = 'catalogue' AND position = $1)",
        )
        .bind(head)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        applied.then_some(())
    })
    .await;
    blocker.rollback().await.unwrap();

    // Nothing more is written, yet every projection reaches the head.
    wait_caught_up_within(&sys, Duration::from_secs(10)).await;
}

async fn place_five(sys: &System) {
    for _ in 0..5 {
        place(sys, uuid::Uuid::new_v4(), &[("MUG-1", 1)]).await;
    }
}

async fn order_flows_end_to_end(extra: &[(&str, &str)]) {
    let sys = System::start_with(extra, &["relay", "projector", "reserver"]).await;

    // Given a product with stock, when a customer orders two units…
    sys.stock_product("MUG-1", 1200, 10).await;
    let customer = uuid::Uuid::new_v4();
    let placed = sys
        .post(
            "/v1/orders",
            json!({"customer_id": customer, "lines": [{"sku": "MUG-1", "quantity": 2}]}),
        )
        .await;
    assert_eq!(placed.status(), 202);
    let placed: Value = placed.json().await.unwrap();
    assert_eq!(placed["status"], "placed");
    assert_eq!(placed["version"], 1);
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    let position = placed["position"].as_i64().unwrap();
    assert!(position > 0);

    // (a) the store holds each stream's events with versions 1..n.
    let rows = eventually("the reservation to be recorded", Duration::from_secs(30), || async {
        let rows = sqlx::query("SELECT stream_id, stream_version, event_type, event_id FROM events ORDER BY position")
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
        rows.iter()
            .any(|r| r.get::<String, _>("event_type") == "OrderConfirmed")
            .then_some(rows)
    })
    .await;
    let mut versions: HashMap<String, Vec<i64>> = HashMap::new();
    for r in &rows {
        versions
            .entry(r.get("stream_id"))
            .or_default()
            .push(r.get("stream_version"));
    }
    for (stream, v) in &versions {
        let expected: Vec<i64> = (1..=v.len() as i64).collect();
        assert_eq!(v, &expected, "versions of {stream}");
    }
    let types: Vec<String> = rows.iter().map(|r| r.get("event_type")).collect();
    for t in [
        "ProductRegistered",
        "StockReceived",
        "OrderPlaced",
        "StockReserved",
        "OrderConfirmed",
    ] {
        assert!(types.contains(&t.to_owned()), "{t} missing from {types:?}");
    }
    assert_eq!(versions[&format!("order-{order_id}")], vec![1, 2]);

    // (b) an independent consumer sees the order's events on the orders topic,
    // keyed by order id, with headers and envelope.
    let messages = read_until(&[sys.topic("orders")], Duration::from_secs(30), |got| {
        got.iter().filter(|m| m.key == order_id).count() >= 2
    })
    .await;
    let ours: Vec<_> = messages.iter().filter(|m| m.key == order_id).collect();
    assert_eq!(
        ours.len(),
        2,
        "OrderPlaced and OrderConfirmed on the orders topic"
    );
    let placed_msg = ours[0];
    assert_eq!(placed_msg.topic, sys.topic("orders"));
    assert_eq!(placed_msg.header("event_type"), Some("OrderPlaced"));
    assert_eq!(placed_msg.header("schema_version"), Some("1"));
    let envelope = &placed_msg.value;
    assert_eq!(placed_msg.header("event_id"), envelope["event_id"].as_str());
    assert_eq!(envelope["event_type"], "OrderPlaced");
    assert_eq!(envelope["stream_id"], format!("order-{order_id}"));
    assert_eq!(envelope["stream_version"], 1);
    assert_eq!(envelope["global_position"], position);
    assert_eq!(envelope["schema_version"], 1);
    assert_eq!(envelope["data"]["lines"][0]["sku"], "MUG-1");
    assert_eq!(envelope["data"]["total"], 2400);
    for field in ["occurred_at", "correlation_id"] {
        assert!(envelope[field].is_string(), "{field} in {envelope}");
    }
    assert!(envelope.get("causation_id").is_some());
    let stored_id: uuid::Uuid = rows
        .iter()
        .find(|r| r.get::<String, _>("event_type") == "OrderPlaced")
        .unwrap()
        .get("event_id");
    assert_eq!(envelope["event_id"], stored_id.to_string());
    assert_eq!(ours[1].header("event_type"), Some("OrderConfirmed"));

    // (c) the query API serves it, waiting for the command's position.
    let response = sys
        .http
        .get(format!("{}/v1/orders/{order_id}", sys.query_url()))
        .header("X-Min-Position", position.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let seen: i64 = response.headers()["x-projection-position"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!(seen >= position);
    let order: Value = response.json().await.unwrap();
    assert_eq!(order["order_id"], order_id);
    assert_eq!(order["customer_id"], customer.to_string());
    assert_eq!(order["total"], 2400);
    assert_eq!(order["currency"], "EUR");
    assert_eq!(order["lines"][0]["line_total"], 2400);

    let confirmed = eventually(
        "the order to read as confirmed",
        Duration::from_secs(20),
        || async {
            let order: Value = sys
                .get(&format!("/v1/orders/{order_id}"))
                .await
                .json()
                .await
                .unwrap();
            (order["status"] == "confirmed").then_some(order)
        },
    )
    .await;
    assert_eq!(confirmed["version"], 2);

    let product = eventually(
        "stock to read as reserved",
        Duration::from_secs(20),
        || async {
            let p: Value = sys.get("/v1/products/MUG-1").await.json().await.unwrap();
            (p["reserved"] == 2).then_some(p)
        },
    )
    .await;
    assert_eq!(product["on_hand"], 10);
    assert_eq!(product["available"], 8);
    assert_eq!(product["unit_price"], 1200);
}

#[tokio::test(flavor = "multi_thread")]
async fn probes_answer_and_processes_stop_cleanly_on_sigterm() {
    let mut sys = System::start_with(&[], &["projector"]).await;
    for base in [sys.command_url().to_owned(), sys.query_url().to_owned()] {
        let health = sys
            .http
            .get(format!("{base}/healthz"))
            .send()
            .await
            .unwrap();
        assert_eq!(health.status(), 200);
        let ready = sys.http.get(format!("{base}/readyz")).send().await.unwrap();
        assert_eq!(ready.status(), 200);
        let body: Value = ready.json().await.unwrap();
        assert_eq!(body, json!({"database": true, "broker": true}));
    }
    assert!(sys.command.terminate().await.success());
    assert!(sys.query.terminate().await.success());
    let projector = sys.workers.first_mut().unwrap();
    assert!(projector.terminate().await.success());
}
