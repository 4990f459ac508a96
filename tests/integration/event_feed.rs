//! The event feed over HTTP (api.md v1.2): every committed event once, in
//! position order, never skipping a late commit, with pages that say when
//! they are final; long polls; one stream's events; and its access rule.

use std::collections::HashSet;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use sqlx::Connection;

use crate::support::shop::{place, place_through};
use crate::support::system::client_with;
use crate::support::{eventually, System};

/// Reads the feed from 0 with pages of `limit` until `done` holds for the
/// cursor and what was read.
pub(crate) async fn follow_feed(
    client: &reqwest::Client,
    base: &str,
    query: &str,
    limit: i64,
    mut done: impl FnMut(i64, &[Value]) -> bool,
) -> Vec<Value> {
    let mut after = 0;
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done(after, &seen) {
        assert!(Instant::now() < deadline, "the feed stopped at {after}");
        let page: Value = client
            .get(format!(
                "{base}/v1/events?after={after}&limit={limit}{query}&wait=1"
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let next = page["next_after"].as_i64().unwrap();
        assert!(next >= after, "next_after never goes back");
        seen.extend(page["events"].as_array().unwrap().iter().cloned());
        after = next;
    }
    seen
}

/// `writers` appenders of `rounds` product events each (SKUs
/// `{prefix}-{writer}-{round}`), whose transactions stay open for a while
/// and some roll back, so positions commit out of order and leave holes.
pub(crate) fn commit_late(
    url: &str,
    prefix: &str,
    writers: usize,
    rounds: usize,
) -> Vec<tokio::task::JoinHandle<()>> {
    (0..writers)
        .map(|writer| {
            let (url, prefix) = (url.to_owned(), prefix.to_owned());
            tokio::spawn(async move {
                let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
                for round in 0..rounds {
                    let mut tx = conn.begin().await.unwrap();
                    let sku = format!("{prefix}-{writer}-{round}");
                    let event =
                        store::encode(&domain::product::ProductEvent::ProductDiscontinued {
                            sku: domain::Sku::parse(&sku).unwrap(),
                        })
                        .unwrap();
                    store::append(
                        &mut tx,
                        domain::StreamCategory::Product,
                        &sku,
                        0,
                        &[event],
                        &store::EventMetadata::new_correlation(None),
                    )
                    .await
                    .unwrap();
                    tokio::time::sleep(Duration::from_millis(
                        ((writer * 7 + round * 13) % 40) as u64,
                    ))
                    .await;
                    if (writer + round) % 4 == 0 {
                        tx.rollback().await.unwrap();
                    } else {
                        tx.commit().await.unwrap();
                    }
                }
            })
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_feed_holds_every_committed_event_once_in_order_whatever_commits_late() {
    let sys = System::start_with(&[], &[]).await;
    let subscriber = client_with(&sys.db.create_key("subscriber", None).await);
    let base = sys.query_url().to_owned();

    let appenders = commit_late(&sys.db.url, "FEED", 6, 10);
    // Read while they write, in small pages, until past the last event
    // committed (known once the writers are done).
    let last = Arc::new(AtomicI64::new(i64::MAX));
    let reader = {
        let (subscriber, base, last) = (subscriber.clone(), base.clone(), last.clone());
        tokio::spawn(async move {
            follow_feed(&subscriber, &base, "", 7, |after, _| {
                after >= last.load(Ordering::Relaxed)
            })
            .await
        })
    };
    for appender in appenders {
        appender.await.unwrap();
    }
    let max: i64 = sqlx::query_scalar("SELECT max(position) FROM events")
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    last.store(max, Ordering::Relaxed);
    let seen = reader.await.unwrap();
    let logged: Vec<(i64, String)> =
        sqlx::query_as("SELECT position, event_id::text FROM events ORDER BY position")
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
    let read: Vec<(i64, String)> = seen
        .iter()
        .map(|e| {
            (
                e["global_position"].as_i64().unwrap(),
                e["event_id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        read, logged,
        "the feed is the log, in order, each event once"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn pages_say_when_they_are_final_filters_move_the_cursor_and_a_long_poll_wakes_on_commit() {
    let sys = System::start_with(&[], &[]).await;
    for i in 0..5 {
        sys.stock_product(&format!("PAGE-{i}"), 100, 3).await;
    }
    let subscriber = client_with(&sys.db.create_key("subscriber", None).await);
    let base = sys.query_url().to_owned();
    let get = |path: String| {
        let subscriber = subscriber.clone();
        async move { subscriber.get(path).send().await.unwrap() }
    };
    // Wait until all ten events are below the horizon.
    let all = follow_feed(&subscriber, &base, "", 100, |_, seen| seen.len() >= 10).await;
    assert_eq!(all.len(), 10);

    // A full page below the horizon never changes: cacheable, with an ETag.
    let full = get(format!("{base}/v1/events?after=0&limit=4")).await;
    assert_eq!(full.status(), 200);
    assert!(full.headers()["cache-control"]
        .to_str()
        .unwrap()
        .contains("immutable"));
    let etag = full.headers()["etag"].clone();
    let again = subscriber
        .get(format!("{base}/v1/events?after=0&limit=4"))
        .header("if-none-match", etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);
    // A page that reaches the horizon may still grow.
    let last = get(format!("{base}/v1/events?after=8&limit=4")).await;
    assert_eq!(last.headers()["cache-control"], "no-store");

    // Filters: only receipts, and the cursor moves past what they skip.
    let page: Value = get(format!("{base}/v1/events?after=0&types=StockReceived"))
        .await
        .json()
        .await
        .unwrap();
    let types: HashSet<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["event_type"].as_str().unwrap())
        .collect();
    assert_eq!(types, HashSet::from(["StockReceived"]));
    assert_eq!(page["events"].as_array().unwrap().len(), 5);
    assert!(page["next_after"].as_i64().unwrap() >= 10);
    let none: Value = get(format!("{base}/v1/events?after=0&types=OrderPlaced"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(none["events"], serde_json::json!([]));
    assert!(none["next_after"].as_i64().unwrap() >= 10, "{none}");

    // A long poll at the head returns once an event commits.
    let head = page["head"].as_i64().unwrap();
    let started = Instant::now();
    let poll = tokio::spawn(get(format!("{base}/v1/events?after={head}&wait=20")));
    tokio::time::sleep(Duration::from_millis(300)).await;
    sys.stock_product("PAGE-LATE", 100, 0).await;
    let woken: Value = poll.await.unwrap().json().await.unwrap();
    assert_eq!(woken["events"][0]["event_type"], "ProductRegistered");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // One stream, in version order.
    let stream: Value = get(format!("{base}/v1/streams/stock-PAGE-1"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stream["events"][0]["event_type"], "StockReceived");
    assert_eq!(
        get(format!("{base}/v1/streams/nothing-here"))
            .await
            .status(),
        404
    );

    // Bad parameters name themselves; other roles may not read the feed.
    let bad: Value = get(format!("{base}/v1/events?categories=orders"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(bad["errors"][0]["field"], "categories", "{bad}");
    let staff = client_with(&sys.db.create_key("staff", None).await);
    let refused = staff.get(format!("{base}/v1/events")).send().await.unwrap();
    assert_eq!(refused.status(), 403);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storefront_reads_its_own_channels_orders_with_every_product_and_stock_event_privately() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("SHOP-1", 100, 10).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let subscriber = client_with(&sys.db.create_key("subscriber", None).await);
    let customer = uuid::Uuid::new_v4();
    let mine = place_through(&web, &sys, customer, &[("SHOP-1", 1)], &[]).await;
    let theirs = place_through(&app, &sys, customer, &[("SHOP-1", 1)], &[]).await;
    let unchanneled = place(&sys, customer, &[("SHOP-1", 1)]).await;
    let base = sys.query_url().to_owned();
    let everything = follow_feed(&subscriber, &base, "", 100, |_, seen| seen.len() >= 5).await;
    assert_eq!(everything.len(), 5);

    // The same URL, through the storefront's view: its order, and the
    // catalogue and stock events, nothing of the other orders.
    let url = format!("{base}/v1/events?after=0&limit=3");
    let page = web.get(&url).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let headers = page.headers().clone();
    let page: Value = page.json().await.unwrap();
    let streams: Vec<&str> = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["stream_id"].as_str().unwrap())
        .collect();
    let own_stream = format!("order-{}", mine["order_id"].as_str().unwrap());
    assert_eq!(
        streams,
        vec!["product-SHOP-1", "stock-SHOP-1", own_stream.as_str()]
    );
    // Final, but for the key's own cache only: a shared cache must never
    // give one channel's page to another.
    let cache = headers["cache-control"].to_str().unwrap();
    assert!(
        cache.starts_with("private") && cache.contains("immutable"),
        "{cache}"
    );
    assert_eq!(headers["vary"], "authorization");
    let full = subscriber.get(&url).send().await.unwrap();
    let full_cache = full.headers()["cache-control"].to_str().unwrap().to_owned();
    assert!(
        full_cache.starts_with("public") && full_cache.contains("immutable"),
        "{full_cache}"
    );
    assert_eq!(full.headers()["vary"], "authorization");
    assert_ne!(
        full.headers()["etag"],
        headers["etag"],
        "two views, two validators"
    );

    // Past its last visible event the storefront's cursor still moves.
    let rest: Value = web
        .get(format!("{base}/v1/events?after={}", page["next_after"]))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(rest["events"], serde_json::json!([]), "{rest}");
    assert!(rest["next_after"].as_i64().unwrap() >= 5, "{rest}");

    // One stream: its own order and the catalogue; another channel's order
    // and an order of no channel are not found.
    let stream = |client: reqwest::Client, id: String| {
        let base = base.clone();
        async move {
            client
                .get(format!("{base}/v1/streams/{id}"))
                .send()
                .await
                .unwrap()
                .status()
        }
    };
    assert_eq!(stream(web.clone(), own_stream.clone()).await, 200);
    assert_eq!(stream(web.clone(), "stock-SHOP-1".into()).await, 200);
    for other in [&theirs, &unchanneled] {
        let id = format!("order-{}", other["order_id"].as_str().unwrap());
        assert_eq!(stream(web.clone(), id.clone()).await, 404);
        assert_eq!(stream(subscriber.clone(), id).await, 200);
    }

    // The server-sent stream holds the same view.
    let sse = web
        .get(format!("{base}/v1/events/stream"))
        .send()
        .await
        .unwrap();
    let own_position = mine["position"].as_i64().unwrap();
    assert_eq!(sse_ids(sse, 3).await, vec![1, 2, own_position]);
}

/// Reads server-sent events from `response` until `count` `id:` lines came.
pub(crate) async fn sse_ids(response: reqwest::Response, count: usize) -> Vec<i64> {
    let mut response = response;
    let mut text = String::new();
    let mut ids = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while ids.len() < count {
        assert!(Instant::now() < deadline, "only {ids:?} in {text}");
        let chunk = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .unwrap()
            .unwrap()
            .expect("the stream stays open");
        text.push_str(&String::from_utf8_lossy(&chunk));
        ids = text
            .lines()
            .filter_map(|l| l.strip_prefix("id:"))
            .map(|id| id.trim().parse().unwrap())
            .collect();
    }
    ids
}

#[tokio::test(flavor = "multi_thread")]
async fn the_stream_sends_events_as_they_settle_resumes_from_the_last_id_and_is_bounded_per_key() {
    let sys = System::start_with(&[], &[]).await;
    for i in 0..3 {
        sys.stock_product(&format!("SSE-{i}"), 100, 0).await;
    }
    let subscriber = client_with(&sys.db.create_key("subscriber", None).await);
    let url = format!("{}/v1/events/stream", sys.query_url());

    let first = subscriber.get(&url).send().await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.headers()["content-type"], "text/event-stream");
    let ids = sse_ids(first, 3).await;
    assert_eq!(ids, vec![1, 2, 3]);

    // Resumed after position 2, it sends 3 and then what commits later.
    let resumed = subscriber
        .get(&url)
        .header("last-event-id", "2")
        .send()
        .await
        .unwrap();
    let later = tokio::spawn(async move { sse_ids(resumed, 2).await });
    tokio::time::sleep(Duration::from_millis(300)).await;
    sys.stock_product("SSE-LATE", 100, 0).await;
    assert_eq!(later.await.unwrap(), vec![3, 4]);

    // A key holds at most four streams at once.
    let mut open = Vec::new();
    for _ in 0..4 {
        let r = subscriber.get(&url).send().await.unwrap();
        assert_eq!(r.status(), 200);
        open.push(r);
    }
    let refused = subscriber.get(&url).send().await.unwrap();
    assert_eq!(refused.status(), 429);
    drop(open);
    eventually(
        "a stream slot to come back",
        Duration::from_secs(10),
        || async {
            let r = subscriber.get(&url).send().await.unwrap();
            (r.status() == 200).then_some(())
        },
    )
    .await;
}
