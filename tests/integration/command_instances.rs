//! Two command APIs on one primary behind a round-robin proxy, each with its
//! own group commit: no command is lost or carried out twice, and an
//! `Idempotency-Key` holds whichever instance a retry reaches.

use std::collections::HashSet;
use std::sync::atomic::Ordering;

use futures::future::join_all;
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::support::proxy::{client_per_request, round_robin};
use crate::support::system::post_with_key;
use crate::support::{Proc, System};

/// Orders placed, each twice with one key, through the proxy.
const ORDERS: usize = 200;

/// Orders offered per second (open loop).
const RATE: u64 = 100;

async fn two_instances() -> (System, Proc) {
    let sys = System::start_with(&[], &["projector", "reserver"]).await;
    let second = Proc::spawn("command-api", &["--addr", "127.0.0.1:0"], &sys.env).await;
    sys.stock_product("MULTI-1", 100, 1_000_000).await;
    // Each instance verifies the key once (its cache starts cold; a burst
    // of first requests would be answered 503 "busy" while it hashes).
    for url in [sys.command_url(), second.url.as_deref().unwrap()] {
        let r = sys
            .http
            .post(format!("{url}/v1/orders"))
            .json(&json!({}))
            .send()
            .await
            .unwrap();
        assert!(r.status().is_client_error(), "{}", r.status());
    }
    (sys, second)
}

async fn orders_placed(sys: &System) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM events WHERE event_type = 'OrderPlaced'")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn orders_through_a_round_robin_proxy_to_two_command_apis_are_each_placed_once() {
    let (sys, second) = two_instances().await;
    let proxy = round_robin(&[sys.command_url(), second.url.as_deref().unwrap()]).await;
    let client = client_per_request(&sys.admin_token);
    let mut requests = JoinSet::new();
    let mut ticks = tokio::time::interval(std::time::Duration::from_micros(1_000_000 / RATE));
    for i in 0..ORDERS {
        ticks.tick().await;
        let (client, url) = (client.clone(), format!("{}/v1/orders", proxy.url));
        requests.spawn(async move {
            let body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "MULTI-1", "quantity": 1}]});
            let key = format!("multi-{i}");
            let mut answers = Vec::new();
            // The retry takes a new connection, so the proxy may hand it to
            // the other instance.
            for _ in 0..2 {
                let r = client
                    .post(&url)
                    .header("Idempotency-Key", &key)
                    .json(&body)
                    .send()
                    .await
                    .unwrap();
                let replayed = r.headers().get("idempotent-replayed").is_some();
                answers.push((r.status().as_u16(), replayed, r.json::<Value>().await.unwrap()));
            }
            answers
        });
    }
    let mut ids = HashSet::new();
    while let Some(answers) = requests.join_next().await {
        let answers = answers.unwrap();
        assert_eq!(answers[0].0, 202, "placed: {answers:?}");
        assert!(!answers[0].1, "the first attempt runs");
        assert_eq!(answers[1].0, 202);
        assert!(answers[1].1, "the retry is replayed: {answers:?}");
        assert_eq!(answers[0].2, answers[1].2, "identical answers");
        assert!(ids.insert(answers[0].2["order_id"].as_str().unwrap().to_owned()));
    }
    assert_eq!(ids.len(), ORDERS);
    assert_eq!(
        orders_placed(&sys).await,
        ORDERS as i64,
        "one OrderPlaced per key"
    );
    let sent: Vec<usize> = proxy
        .sent
        .iter()
        .map(|n| n.load(Ordering::Relaxed))
        .collect();
    assert!(
        sent.iter().all(|n| *n >= ORDERS / 2),
        "both instances took requests: {sent:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn one_key_sent_to_both_command_apis_at_once_places_one_order() {
    let (sys, second) = two_instances().await;
    let urls = [sys.command_url().to_owned(), second.url.clone().unwrap()];
    let body =
        json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "MULTI-1", "quantity": 1}]});
    let responses = join_all((0..10).map(|i| {
        let client = sys.client();
        let (url, body) = (format!("{}/v1/orders", urls[i % 2]), body.clone());
        async move { post_with_key(&client, &url, "both-at-once", &body).await }
    }))
    .await;
    assert_eq!(responses[0].0, 202);
    assert!(
        responses.iter().all(|r| *r == responses[0]),
        "identical answers from both instances: {responses:?}"
    );
    assert_eq!(orders_placed(&sys).await, 1);
}
