//! An event a consumer cannot handle is parked with its error; the log (or
//! the partition) moves on, and the event can be listed and retried.

use std::time::Duration;

use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::ClientConfig;
use serde_json::{json, Value};

use crate::support::process::run_tool;
use crate::support::shop::wait_status;
use crate::support::system::brokers;
use crate::support::{eventually, System};

#[tokio::test(flavor = "multi_thread")]
async fn a_poison_event_in_the_log_is_parked_and_does_not_stall_the_workers() {
    let sys = System::start().await;
    sys.stock_product("PARK-0", 100, 10).await;
    append_unknown_event(&sys.db.pool).await;
    let placed: Value = sys
        .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "PARK-0", "quantity": 1}]}))
        .await
        .json()
        .await
        .unwrap();
    let id = placed["order_id"].as_str().unwrap();
    wait_status(&sys, id, "confirmed", Duration::from_secs(60)).await;
    // Orders of one batch are handled concurrently, so the later order can
    // be confirmed before the batch holding the poison event is isolated
    // and the event parked.
    let all = vec!["orders", "reserver", "sales"];
    let parked = eventually("every consumer to park the event", Duration::from_secs(30), || async {
        let parked: Vec<String> = sqlx::query_scalar(
            "SELECT consumer FROM parked_events WHERE error LIKE '%OrderTeleported%' ORDER BY consumer",
        )
        .fetch_all(&sys.db.pool)
        .await
        .unwrap();
        (parked.len() >= all.len()).then_some(parked)
    })
    .await;
    assert_eq!(parked, all);
    let (status, _) = run_tool(&["parked", "list", "--consumer", "reserver"], &sys.env).await;
    assert!(status.success());
}

/// Appends an event no version of the domain knows, as a buggy writer might.
async fn append_unknown_event(pool: &sqlx::PgPool) {
    sqlx::query(
        "INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, \
                             event_type, schema_version, data, correlation_id, actor) \
         VALUES ($1, 'order-' || $2, 'order', $2, 1, 'OrderTeleported', 1, '{}', $1, 'system:test')",
    )
    .bind(uuid::Uuid::now_v7())
    .bind(uuid::Uuid::now_v7().to_string())
    .execute(pool)
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn poison_and_forged_messages_on_kafka_are_parked_and_do_not_stall_their_partitions() {
    let sys = System::start_with(
        &[("STOCKROOM_SOURCE", "kafka")],
        &["relay", "projector", "reserver"],
    )
    .await;
    sys.stock_product("PARK-1", 100, 10).await;
    // A poison event in the log reaches the workers through the topic.
    append_unknown_event(&sys.db.pool).await;

    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    let topic = sys.topic("orders");
    // Anyone with produce rights could write this: an envelope of an event
    // the log of record does not hold.
    let forged = json!({
        "event_id": uuid::Uuid::now_v7(), "event_type": "OrderCancelled", "schema_version": 1,
        "stream_id": "order-x", "stream_version": 1, "global_position": 1,
        "occurred_at": "2026-01-01T00:00:00Z", "correlation_id": uuid::Uuid::now_v7(),
        "causation_id": null, "data": {"reason": "forged"}
    });
    for partition in 0..3 {
        for payload in ["not json at all".to_owned(), forged.to_string()] {
            producer
                .send(
                    FutureRecord::to(&topic)
                        .partition(partition)
                        .key("poison")
                        .payload(&payload),
                    Duration::from_secs(10),
                )
                .await
                .unwrap();
        }
    }

    // Orders placed after the poison still flow through every partition.
    let mut ids = Vec::new();
    for _ in 0..6 {
        let placed: Value = sys
            .post("/v1/orders", json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "PARK-1", "quantity": 1}]}))
            .await
            .json()
            .await
            .unwrap();
        ids.push(placed["order_id"].as_str().unwrap().to_owned());
    }
    for id in &ids {
        wait_status(&sys, id, "confirmed", Duration::from_secs(60)).await;
    }

    fn parked_by<'a>(parked: &'a [(String, String)], consumer: &str) -> Vec<&'a (String, String)> {
        parked.iter().filter(|(c, _)| c == consumer).collect()
    }
    // The orders above need not land in every partition (they are keyed by
    // order id), so a partition's poison may still be on its last attempt.
    let parked: Vec<(String, String)> = eventually(
        "both consumers to park all seven messages",
        Duration::from_secs(60),
        || async {
            let parked: Vec<(String, String)> =
                sqlx::query_as("SELECT consumer, error FROM parked_events ORDER BY id")
                    .fetch_all(&sys.db.pool)
                    .await
                    .unwrap();
            let all_seven = ["orders", "reserver"]
                .iter()
                .all(|consumer| parked_by(&parked, consumer).len() >= 7);
            all_seven.then_some(parked)
        },
    )
    .await;
    for consumer in ["orders", "reserver"] {
        let mine = parked_by(&parked, consumer);
        assert_eq!(
            mine.len(),
            7,
            "{consumer} parked three malformed, three forged and one unknown event: {parked:?}"
        );
        let forged = mine
            .iter()
            .filter(|(_, e)| e.contains("not in the log of record"))
            .count();
        assert_eq!(forged, 3, "{consumer}: {parked:?}");
        assert!(mine
            .iter()
            .any(|(_, e)| e.contains("OrderTeleported") || e.contains("unknown variant")));
    }

    let (status, listing) = run_tool(&["parked", "list", "--consumer", "orders"], &sys.env).await;
    assert!(status.success());
    assert_eq!(listing.lines().count(), 7, "{listing}");
    let unknown_id = listing
        .lines()
        .find(|l| !l.contains("position -1"))
        .and_then(|l| l.split('\t').next())
        .unwrap()
        .to_owned();
    let (status, _) = run_tool(&["parked", "retry", &unknown_id], &sys.env).await;
    assert!(
        !status.success(),
        "a retry of a still-poisonous event fails and leaves it parked"
    );
    let (_, after) = run_tool(&["parked", "list", "--consumer", "orders"], &sys.env).await;
    assert_eq!(after.lines().count(), 7);
}

/// A parked event lies behind its log follower's checkpoint, yet was never
/// applied: a retry applies it all the same.
#[tokio::test(flavor = "multi_thread")]
async fn a_retried_event_behind_the_checkpoint_is_applied() {
    let sys = System::start_with(&[], &["projector"]).await;
    sys.stock_product("PARK-2", 500, 10).await;
    let placed: Value = sys
        .post(
            "/v1/orders",
            json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "PARK-2", "quantity": 1}]}),
        )
        .await
        .json()
        .await
        .unwrap();
    let order_id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &order_id, "placed", Duration::from_secs(60)).await;
    // As if the orders projection had parked the placement: not applied,
    // and its checkpoint past it.
    let sql = format!(
        "SELECT {} FROM events WHERE aggregate_id = $1 AND event_type = 'OrderPlaced'",
        store::read::EVENT_COLUMNS
    );
    let row = sqlx::query(&sql)
        .bind(&order_id)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let delivered = bus::Delivered::from_log(&store::read::from_row(&row).unwrap());
    let mut tx = sys.db.pool.begin().await.unwrap();
    sqlx::query("DELETE FROM read_models.orders WHERE order_id = $1::uuid")
        .bind(&order_id)
        .execute(&mut *tx)
        .await
        .unwrap();
    bus::parking::park(&mut tx, "orders", &delivered, "simulated", 3)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    let id: i64 = sqlx::query_scalar("SELECT id FROM parked_events WHERE consumer = 'orders'")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();

    let (status, out) = run_tool(&["parked", "retry", &id.to_string()], &sys.env).await;

    assert!(status.success(), "{out}");
    let back: i64 =
        sqlx::query_scalar("SELECT count(*) FROM read_models.orders WHERE order_id = $1::uuid")
            .bind(&order_id)
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(back, 1, "the retried placement is in the read model again");
}
