//! One storefront key cannot hold the shop's stock hostage: an order through
//! a sales channel has a most units, and a channel a most orders open and
//! unpaid; staff and other channels are not held back by it.

use std::time::Duration;

use serde_json::{json, Value};

use crate::support::system::client_with;
use crate::support::{eventually, System};

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_is_held_to_its_units_per_order_and_its_open_unpaid_orders() {
    let sys = System::start_with(
        &[
            ("STOCKROOM_CHANNEL_MAX_UNITS_PER_ORDER", "5"),
            ("STOCKROOM_CHANNEL_MAX_OPEN_ORDERS", "3"),
        ],
        // No reservation process: orders stay placed, open and unpaid.
        &["projector"],
    )
    .await;
    sys.stock_product("CHAN-1", 100, 1_000).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let order = |units: i64| json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "CHAN-1", "quantity": units}]});
    let url = format!("{}/v1/orders", sys.command_url());

    let too_big = web.post(&url).json(&order(6)).send().await.unwrap();
    assert_eq!(too_big.status(), 422);
    let problem: Value = too_big.json().await.unwrap();
    assert_eq!(problem["errors"][0]["field"], "lines", "{problem}");

    let mut placed = Vec::new();
    for _ in 0..3 {
        let r = web.post(&url).json(&order(5)).send().await.unwrap();
        assert_eq!(r.status(), 202);
        placed.push(
            r.json::<Value>().await.unwrap()["order_id"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    let full = web.post(&url).json(&order(1)).send().await.unwrap();
    assert_eq!(full.status(), 429);
    assert!(full.headers().contains_key("retry-after"));
    let problem: Value = full.json().await.unwrap();
    assert!(
        problem["type"].as_str().unwrap().ends_with("channel-full"),
        "{problem}"
    );

    // Staff and another channel are not held to web's bound.
    assert_eq!(sys.post("/v1/orders", order(50)).await.status(), 202);
    assert_eq!(
        app.post(&url)
            .json(&order(1))
            .send()
            .await
            .unwrap()
            .status(),
        202
    );

    // Once an open order ends, the channel may place again.
    let cancelled = sys
        .post(
            &format!("/v1/orders/{}/cancellations", placed[0]),
            json!({"reason": "test"}),
        )
        .await;
    assert!(cancelled.status().is_success(), "{}", cancelled.status());
    eventually("web to place again", Duration::from_secs(20), || async {
        let r = web.post(&url).json(&order(1)).send().await.unwrap();
        (r.status() == 202).then_some(())
    })
    .await;
}
