//! One order can be followed by its trace: the request's `traceparent` is
//! stored with the placement, continued by the reservation, and carried on
//! Kafka; a request without a valid one starts a new trace.

use std::time::Duration;

use crate::support::kafka::read_until;
use crate::support::shop::{place_through, wait_status};
use crate::support::System;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

async fn traces(sys: &System, order_id: &str) -> Vec<(String, Option<String>)> {
    sqlx::query_as(
        "SELECT event_type, trace_parent FROM events \
         WHERE aggregate_id = $1 OR (category = 'stock' AND data->>'order_id' = $1) \
         ORDER BY position",
    )
    .bind(order_id)
    .fetch_all(&sys.db.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_requests_trace_follows_its_order_through_the_reservation_and_onto_kafka() {
    let sys = System::start().await;
    sys.stock_product("TRACE-1", 100, 10).await;
    let sent = format!("00-{TRACE_ID}-00f067aa0ba902b7-01");
    let placed = place_through(
        &sys.client(),
        &sys,
        uuid::Uuid::new_v4(),
        &[("TRACE-1", 1)],
        &[("traceparent", &sent)],
    )
    .await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;

    let events = traces(&sys, &id).await;
    let types: Vec<&str> = events.iter().map(|(t, _)| t.as_str()).collect();
    assert_eq!(types, ["OrderPlaced", "StockReserved", "OrderConfirmed"]);
    assert_eq!(events[0].1.as_deref(), Some(sent.as_str()));
    for (event_type, trace) in &events[1..] {
        let trace = trace.as_deref().unwrap_or_default();
        assert!(
            trace.starts_with(&format!("00-{TRACE_ID}-")) && trace != sent,
            "{event_type} does not continue the request's trace: {trace}"
        );
    }

    let messages = read_until(&[sys.topic("orders")], Duration::from_secs(30), |got| {
        got.iter().any(|m| m.key == id)
    })
    .await;
    let message = messages
        .iter()
        .find(|m| m.key == id)
        .expect("OrderPlaced on Kafka");
    assert_eq!(message.header("traceparent"), Some(sent.as_str()));
    assert_eq!(message.value["traceparent"], sent.as_str());

    // Malformed (upper-case hex): ignored, and a new trace is started.
    let upper = sent.to_uppercase();
    let placed = place_through(
        &sys.client(),
        &sys,
        uuid::Uuid::new_v4(),
        &[("TRACE-1", 1)],
        &[("traceparent", &upper)],
    )
    .await;
    let other = placed["order_id"].as_str().unwrap().to_owned();
    let events = traces(&sys, &other).await;
    let fresh = events[0].1.as_deref().expect("a new trace");
    assert!(
        fresh.starts_with("00-") && !fresh.contains(TRACE_ID),
        "{fresh}"
    );
}
