//! Inventory is never oversold, whatever the concurrency.

use std::time::Duration;

use futures::stream::{self, StreamExt};
use serde_json::{json, Value};

use crate::support::{eventually, System};

async fn outcome_counts(sys: &System) -> (i64, i64) {
    let row: (i64, i64) = sqlx::query_as(
        "SELECT count(*) FILTER (WHERE event_type = 'OrderConfirmed'), \
                count(*) FILTER (WHERE event_type = 'OrderRejected') FROM events",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    row
}

#[tokio::test(flavor = "multi_thread")]
async fn two_hundred_concurrent_orders_for_fifty_units_confirm_exactly_fifty() {
    let mut sys = System::start().await;
    sys.spawn_worker("reserver").await; // two reservation processes share the group
    sys.stock_product("HOT-1", 500, 50).await;

    // Eight clients with their own connections place 200 one-unit orders.
    let clients: Vec<reqwest::Client> = (0..8).map(|_| sys.client()).collect();
    let url = format!("{}/v1/orders", sys.command_url());
    let statuses: Vec<u16> = stream::iter(0..200)
        .map(|i| {
            let client = clients[i % clients.len()].clone();
            let url = url.clone();
            async move {
                client
                    .post(url)
                    .json(&json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "HOT-1", "quantity": 1}]}))
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16()
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert!(
        statuses.iter().all(|s| *s == 202),
        "every order accepted: {statuses:?}"
    );

    let (confirmed, rejected) = eventually(
        "every order to be decided",
        Duration::from_secs(120),
        || async {
            let (c, r) = outcome_counts(&sys).await;
            (c + r == 200).then_some((c, r))
        },
    )
    .await;
    assert_eq!((confirmed, rejected), (50, 150));

    let reserved: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE stream_id = 'stock-HOT-1' AND event_type = 'StockReserved'",
    )
    .fetch_one(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(reserved, 50);

    let product: Value = eventually(
        "the read model to settle",
        Duration::from_secs(30),
        || async {
            let p: Value = sys.get("/v1/products/HOT-1").await.json().await.unwrap();
            (p["reserved"] == 50).then_some(p)
        },
    )
    .await;
    assert_eq!(product["available"], 0);
    assert_eq!(product["on_hand"], 50);
}
