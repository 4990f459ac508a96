//! Server-sent event streams share one reader of the log's tail; each must
//! still get exactly its own view of the log, in order and once, whatever
//! its pace, its filters, its key's channel and where it resumed; and the
//! tail's in-memory view must be the rule the paged feed's query applies.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use store::feed::FeedFilter;

use crate::event_feed::{commit_late, follow_feed};
use crate::support::shop::place_through;
use crate::support::system::client_with;
use crate::support::System;

/// Reads `response`'s server-sent events until an `id:` reaches `last`
/// (known once the writers are done), pausing `pause` between chunks;
/// the ids in the order they came.
async fn read_until(
    response: reqwest::Response,
    last: Arc<AtomicI64>,
    pause: Duration,
) -> Vec<i64> {
    let mut response = response;
    let mut pending = String::new();
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(90);
    while ids
        .last()
        .is_none_or(|id| *id < last.load(Ordering::Relaxed))
    {
        assert!(
            Instant::now() < deadline,
            "the stream stopped after {ids:?}"
        );
        let chunk = tokio::time::timeout(Duration::from_secs(1), response.chunk()).await;
        let Ok(chunk) = chunk else { continue };
        let chunk = chunk.unwrap().expect("the stream stays open");
        pending.push_str(std::str::from_utf8(&chunk).unwrap());
        // Whole events only: a chunk may end inside one.
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            if let Some(id) = event.lines().find_map(|l| l.strip_prefix("id: ")) {
                ids.push(id.parse().unwrap());
            }
        }
        tokio::time::sleep(pause).await;
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn streams_sharing_the_tail_each_get_their_own_view_of_the_log_once_and_in_order() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("TAIL-1", 100, 1_000).await;
    let subscriber = client_with(&sys.db.create_key("subscriber", None).await);
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let base = sys.query_url().to_owned();
    let url = format!("{base}/v1/events/stream");

    // (who reads, the filters, the page size of its reads of the log,
    // Last-Event-ID, pause between chunks)
    let views: Vec<(&reqwest::Client, &str, i64, Option<i64>, u64)> = vec![
        (&subscriber, "", 100, None, 0),
        (&subscriber, "", 1, None, 25),
        (&subscriber, "categories=order", 100, None, 0),
        (
            &subscriber,
            "types=ProductDiscontinued,OrderPlaced",
            100,
            Some(1),
            0,
        ),
        (&web, "", 100, None, 0),
        (&web, "", 2, Some(2), 10),
    ];
    let last = Arc::new(AtomicI64::new(i64::MAX));
    let mut readers = Vec::new();
    for (client, filters, limit, resume, pause) in &views {
        let mut request = client.get(format!("{url}?limit={limit}&{filters}"));
        if let Some(position) = resume {
            request = request.header("last-event-id", position.to_string());
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 200);
        readers.push(tokio::spawn(read_until(
            response,
            last.clone(),
            Duration::from_millis(*pause),
        )));
    }

    // Late and rolled-back commits, and orders through two channels, all
    // at once.
    let appenders = commit_late(&sys.db.url, "TAIL", 4, 12);
    for _ in 0..6 {
        for client in [&web, &app] {
            place_through(client, &sys, uuid::Uuid::new_v4(), &[("TAIL-1", 1)], &[]).await;
        }
    }
    for appender in appenders {
        appender.await.unwrap();
    }
    // The reservation process confirms the orders; wait for the log to go
    // quiet, then for the horizon to reach its end.
    let mut max = 0;
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        let now: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
        if now == max {
            break;
        }
        max = now;
    }

    for ((client, filters, limit, resume, _), reader) in views.iter().zip(readers) {
        // The paged feed is the reference: its view is the query's filter.
        let expected: Vec<i64> =
            follow_feed(client, &base, &format!("&{filters}"), 100, |after, _| {
                after >= max
            })
            .await
            .iter()
            .map(|e| e["global_position"].as_i64().unwrap())
            .filter(|p| *p > resume.unwrap_or(0))
            .collect();
        let view = format!("{filters} (pages of {limit}, resumed after {resume:?})");
        assert!(!expected.is_empty(), "{view}: the view holds events");
        last.store(*expected.last().unwrap(), Ordering::Relaxed);
        let streamed = reader.await.unwrap();
        assert_eq!(
            streamed, expected,
            "{view}: the stream is its view of the log, in order, each event once"
        );
    }
}

/// One event of each kind a view tells apart, written through the APIs.
async fn seed_every_kind(sys: &System) {
    sys.stock_product("VIEW-1", 100, 10).await;
    for channel in ["web", "app"] {
        let key = client_with(&sys.db.create_key("storefront", Some(channel)).await);
        place_through(&key, sys, uuid::Uuid::new_v4(), &[("VIEW-1", 1)], &[]).await;
    }
    crate::support::shop::place(sys, uuid::Uuid::new_v4(), &[("VIEW-1", 1)]).await;
    let r = sys
        .post(
            "/v1/locations",
            serde_json::json!({"code": "view-site", "name": "Views", "priority": 2}),
        )
        .await;
    assert!(r.status().is_success());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tails_in_memory_view_admits_exactly_what_the_paged_feeds_query_selects() {
    let sys = System::start_with(&[], &[]).await;
    seed_every_kind(&sys).await;
    let head: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let tail = store::feed::tail_below(&sys.db.pool, 0, head, 1_000)
        .await
        .unwrap();
    assert_eq!(tail.len() as i64, head, "the tail reads every event");
    let list = |s: &str| {
        s.split(',')
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
            .collect()
    };
    let mut filters = Vec::new();
    for types in [
        "",
        "OrderPlaced",
        "OrderPlaced,StockReceived,LocationRegistered",
    ] {
        for categories in ["", "order", "stock,product", "location"] {
            for channel in [None, Some("web"), Some("app"), Some("pos")] {
                filters.push(FeedFilter {
                    types: list(types),
                    categories: list(categories),
                    channel: channel.map(str::to_owned),
                });
            }
        }
    }
    for filter in filters {
        let selected: Vec<i64> = store::feed::page_below(&sys.db.pool, &filter, 0, head, 1_000)
            .await
            .unwrap()
            .events
            .iter()
            .map(|e| e.position)
            .collect();
        let admitted: Vec<i64> = tail
            .iter()
            .filter(|t| {
                filter.admits(
                    &t.event.category,
                    &t.event.event_type,
                    t.order_channel.as_deref(),
                )
            })
            .map(|t| t.event.position)
            .collect();
        assert_eq!(admitted, selected, "{filter:?}");
    }
}
