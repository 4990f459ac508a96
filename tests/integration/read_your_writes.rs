//! Read-your-writes under load, measured as a shop frontend meets it: orders
//! arrive at a constant rate whatever the server does (open loop), and each
//! is read back at once from the query API with `X-Min-Position` set to the
//! position its 202 carried. Every read must find the order.

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinSet;

use crate::support::System;

/// The suite's load; `STOCKROOM_TEST_RYW_RATE` and `STOCKROOM_TEST_RYW_SECONDS`
/// repeat the measurement at other rates (200/s for 20 s, 500/s for 30 s).
pub fn load() -> (u64, u64) {
    let setting = |name: &str, default: u64| {
        std::env::var(name)
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    (
        setting("STOCKROOM_TEST_RYW_RATE", 100),
        setting("STOCKROOM_TEST_RYW_SECONDS", 10),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn every_order_read_back_at_its_position_is_found_under_open_loop_load() {
    let (rate, seconds) = load();
    let sys = System::start_with(&[], &["projector", "reserver"]).await;
    every_order_is_read_back_at_its_position(&sys, rate, seconds).await;
}

/// Places `rate` orders a second for `seconds` (open loop) and reads each
/// back at once at its position: every read must be a 200 that shows it.
pub async fn every_order_is_read_back_at_its_position(sys: &System, rate: u64, seconds: u64) {
    sys.stock_product("RYW-1", 100, 1_000_000).await;
    let client = sys.client();
    let (command, query) = (sys.command_url().to_owned(), sys.query_url().to_owned());
    let mut ticks = tokio::time::interval(Duration::from_micros(1_000_000 / rate));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let mut requests = JoinSet::new();
    for _ in 0..rate * seconds {
        ticks.tick().await;
        let (client, command, query) = (client.clone(), command.clone(), query.clone());
        requests.spawn(async move {
            let placed = client
                .post(format!("{command}/v1/orders"))
                .json(&json!({
                    "customer_id": uuid::Uuid::new_v4(),
                    "lines": [{"sku": "RYW-1", "quantity": 1}],
                }))
                .send()
                .await
                .unwrap();
            assert_eq!(placed.status(), 202, "placing an order");
            let placed: serde_json::Value = placed.json().await.unwrap();
            let id = placed["order_id"].as_str().unwrap().to_owned();
            let position = placed["position"].as_i64().unwrap();
            let read = client
                .get(format!("{query}/v1/orders/{id}"))
                .header("x-min-position", position.to_string())
                .send()
                .await
                .unwrap();
            let status = read.status().as_u16();
            let seen = read
                .headers()
                .get("x-projection-position")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<i64>().ok());
            (status, position, seen)
        });
    }
    let mut failures = Vec::new();
    let mut answered = 0;
    while let Some(outcome) = requests.join_next().await {
        let (status, position, seen) = outcome.unwrap();
        answered += 1;
        if status != 200 {
            failures.push((status, position, seen));
        } else {
            assert!(
                seen.is_some_and(|s| s >= position),
                "a 200 for position {position} says the projection is at {seen:?}"
            );
        }
    }
    assert_eq!(answered, rate * seconds);
    assert!(
        failures.is_empty(),
        "{} of {answered} reads at their position were not 200: (status, wanted, at) {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
}
