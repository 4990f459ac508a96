//! Metrics from every process, always with content: request counts and
//! latency histograms per route on the APIs, and each worker's own endpoint
//! with what it did, behind an operator key.

use std::time::Duration;

use crate::support::shop::{place, wait_status};
use crate::support::system::client_with;
use crate::support::System;

async fn scrape(client: &reqwest::Client, base: &str) -> String {
    let response = client.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(response.status(), 200, "{base}/metrics");
    response.text().await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_process_serves_metrics_of_what_it_did() {
    let sys = System::start().await;
    sys.stock_product("MET-1", 100, 10).await;
    let placed = place(&sys, uuid::Uuid::new_v4(), &[("MET-1", 1)]).await;
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;

    let operator = client_with(&sys.db.create_key("operator", None).await);
    let command = scrape(&operator, sys.command_url()).await;
    assert!(
        command.contains(
            r#"stockroom_http_requests_total{method="POST",route="/v1/orders",status="202"}"#
        ),
        "{command}"
    );
    // A histogram with buckets that tell 20 ms from 50 ms apart.
    assert!(
        command.contains(r#"stockroom_http_request_duration_seconds_bucket{method="POST",route="/v1/orders",status="202",le="0.02"}"#),
        "{command}"
    );
    let query = scrape(&operator, sys.query_url()).await;
    assert!(
        query.contains(r#"route="/v1/orders/{id}""#),
        "the query API counts reads by route template:\n{query}"
    );

    // Each worker's own endpoint: the key is checked like the APIs'.
    let mut everything = command.clone() + &query;
    for worker in &sys.workers {
        let base = worker.url.as_deref().expect("a metrics endpoint");
        let anonymous = reqwest::get(format!("{base}/metrics")).await.unwrap();
        assert_eq!(anonymous.status(), 401, "{}", worker.name);
        let health = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(health.status(), 200, "{}", worker.name);
        let text = scrape(&operator, base).await;
        everything.push_str(&text);
        let expected = match worker.name.as_str() {
            "relay" => "stockroom_relay_published_events_total",
            _ => "stockroom_consumer_events_total",
        };
        assert!(
            text.contains(expected),
            "{} lacks {expected}:\n{text}",
            worker.name
        );
        assert!(
            text.contains("stockroom_log_held_back_seconds"),
            "{}:\n{text}",
            worker.name
        );
    }

    // Every metric the Grafana dashboard charts is served by some process.
    let dashboard = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/grafana/dashboards/stockroom.json"
    ))
    .unwrap();
    let mut charted: Vec<&str> = dashboard
        .match_indices("stockroom_")
        .map(|(at, _)| {
            let name = &dashboard[at..];
            let end = name
                .find(|c: char| !(c.is_ascii_lowercase() || c == '_'))
                .unwrap_or(name.len());
            name[..end].trim_end_matches("_bucket")
        })
        .collect();
    charted.sort_unstable();
    charted.dedup();
    assert!(charted.len() >= 10, "{charted:?}");
    for name in charted {
        assert!(
            everything.contains(&format!("{name}{{")) || everything.contains(&format!("{name} ")),
            "the dashboard charts {name}, which no process serves"
        );
    }
}
