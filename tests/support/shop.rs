//! Shop actions the tests script: placing orders, waiting for the pipeline.

use std::time::Duration;

use domain::stock::{StockEvent, StockItem};
use domain::Aggregate;
use serde_json::{json, Value};

use super::process::run_tool;
use super::{eventually, eventually_saying, System};

/// Places an order; returns the command's answer.
pub async fn place(sys: &System, customer: uuid::Uuid, lines: &[(&str, i64)]) -> Value {
    place_through(&sys.client(), sys, customer, lines, &[]).await
}

/// Places an order through `client` (its key), with extra request headers;
/// returns the command's answer.
pub async fn place_through(
    client: &reqwest::Client,
    sys: &System,
    customer: uuid::Uuid,
    lines: &[(&str, i64)],
    headers: &[(&str, &str)],
) -> Value {
    let lines: Vec<Value> = lines
        .iter()
        .map(|(sku, q)| json!({"sku": sku, "quantity": q}))
        .collect();
    let mut request = client
        .post(format!("{}/v1/orders", sys.command_url()))
        .json(&json!({"customer_id": customer, "lines": lines}));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let r = request.send().await.unwrap();
    assert_eq!(r.status(), 202, "place order");
    r.json().await.unwrap()
}

/// Waits until every order in the log is confirmed or rejected.
pub async fn wait_decided(sys: &System, orders: i64) {
    eventually(
        "every order to be decided",
        Duration::from_secs(120),
        || async {
            let decided: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE event_type IN ('OrderConfirmed', 'OrderRejected')",
        )
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
            (decided >= orders).then_some(())
        },
    )
    .await;
}

/// Waits until the relay published everything and every projection applied it.
pub async fn wait_caught_up(sys: &System) {
    wait_caught_up_within(sys, Duration::from_secs(120)).await;
}

/// [`wait_caught_up`] with its own bound; on timeout it says what lagged.
pub async fn wait_caught_up_within(sys: &System, bound: Duration) {
    eventually_saying("projections to catch up", bound, || async {
        let (settled, last): (i64, i64) = sqlx::query_as(
            "SELECT settled, (SELECT coalesce(max(position), 0) FROM events) \
             FROM subscriptions WHERE name = 'relay'",
        )
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
        let views: Option<Value> = sys.get("/v1/projections").await.json().await.ok();
        let live = views
            .as_ref()
            .and_then(Value::as_array)
            .is_some_and(|views| {
                views
                    .iter()
                    .all(|v| v["lag_events"] == 0 && v["status"] == "live")
            });
        if settled >= last && live {
            return Ok(());
        }
        Err(format!(
            ": relay settled {settled} of {last}; /v1/projections: {}",
            views.map_or_else(|| "unreadable".to_owned(), |v| v.to_string())
        ))
    })
    .await;
}

/// Runs `stockroom projections verify` and asserts no read model differs.
pub async fn assert_verified(sys: &System) {
    let (status, out) = run_tool(&["projections", "verify"], &sys.env).await;
    assert!(status.success(), "verify found differences:\n{out}");
    for name in ["orders", "catalogue", "sales"] {
        assert!(out.contains(&format!("{name}: no differences")), "{out}");
    }
}

/// An order's status in the query API, if it can be read.
pub async fn status(sys: &System, order_id: &str) -> Option<String> {
    let o: Value = sys
        .get(&format!("/v1/orders/{order_id}"))
        .await
        .json()
        .await
        .ok()?;
    o["status"].as_str().map(str::to_owned)
}

/// Waits until the query API shows the order with status `wanted`.
pub async fn wait_status(sys: &System, order_id: &str, wanted: &str, timeout: Duration) {
    eventually(
        &format!("order {order_id} to be {wanted}"),
        timeout,
        || async { (status(sys, order_id).await.as_deref() == Some(wanted)).then_some(()) },
    )
    .await;
}

/// Waits until the query API can read the order at all (the projector's
/// consumer-group members join within seconds of starting).
pub async fn wait_visible(sys: &System, order_id: &str) {
    eventually(
        &format!("order {order_id} to be readable"),
        Duration::from_secs(60),
        || async {
            (sys.get(&format!("/v1/orders/{order_id}")).await.status() == 200).then_some(())
        },
    )
    .await;
}

/// Folds the SKU's stream and checks every location at every version, and
/// that the rows agree with the fold at the end.
pub async fn check_every_version(sys: &System, sku: &str) -> StockItem {
    let mut conn = sys.db.pool.acquire().await.unwrap();
    let events = store::read_stream(&mut conn, &format!("stock-{sku}"), None)
        .await
        .unwrap();
    let mut state = StockItem::default();
    for recorded in &events {
        let event: StockEvent = recorded.decode().unwrap();
        state = state.evolve(&event);
        for (at, u) in state.locations() {
            assert!(
                u.available() >= 0 && u.reserved >= 0 && u.held >= 0,
                "{sku} at {at} after version {}: {u:?}",
                recorded.stream_version
            );
        }
    }
    let (_, folded, _) = store::stock_levels::folded(&mut conn, sku).await.unwrap();
    let (_, stored, _) = store::stock_levels::stored(&mut conn, sku)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(folded, stored, "{sku}: rows and fold disagree");
    state
}
