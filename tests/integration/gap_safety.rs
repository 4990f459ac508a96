//! The relay never skips an event whose transaction commits late.

use std::collections::HashMap;
use std::time::Duration;

use domain::StreamCategory;
use store::{append, encode, EventMetadata};

use crate::support::kafka::read_until;
use crate::support::system::env_for;
use crate::support::{eventually, unique, Proc, TestDb};

const WRITERS: usize = 8;
const APPENDS_PER_WRITER: usize = 25;

#[tokio::test(flavor = "multi_thread")]
async fn every_event_is_published_exactly_once_even_when_commits_arrive_late() {
    let db = TestDb::create().await;
    let prefix = unique("t");
    let env = env_for(&db, &prefix, &[("STOCKROOM_RELAY_POLL_INTERVAL", "20ms")]);
    let _relay = Proc::spawn("relay", &[], &env).await;

    let writers = (0..WRITERS).map(|w| {
        let pool = db.pool.clone();
        tokio::spawn(async move {
            for i in 0..APPENDS_PER_WRITER {
                let sku = format!("GAP-{w}-{}", i % 5);
                let version: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM events WHERE stream_id = $1")
                        .bind(format!("stock-{sku}"))
                        .fetch_one(&pool)
                        .await
                        .unwrap();
                let event = encode(&domain::stock::StockEvent::StockReceived {
                    sku: domain::Sku::parse(&sku).unwrap(),
                    quantity: domain::Quantity::new(1).unwrap(),
                    reference: Some(format!("{w}/{i}")),
                    location: domain::LocationCode::default_location(),
                })
                .unwrap();
                let mut tx = pool.begin().await.unwrap();
                append(
                    &mut tx,
                    StreamCategory::Stock,
                    &sku,
                    version,
                    &[event],
                    &EventMetadata::new_correlation(None),
                )
                .await
                .unwrap();
                // Some writers sit on their uncommitted position while later
                // positions commit and get published around them.
                let hold = match (w, i % 7) {
                    (0, 0) => 1500,
                    (_, 0) => 300,
                    (_, 3) => 40,
                    _ => 0,
                };
                tokio::time::sleep(Duration::from_millis(hold)).await;
                tx.commit().await.unwrap();
            }
        })
    });
    for w in writers.collect::<Vec<_>>() {
        w.await.unwrap();
    }
    let total = (WRITERS * APPENDS_PER_WRITER) as i64;
    assert_eq!(db.event_count().await, total);

    eventually(
        "the relay to publish everything",
        Duration::from_secs(60),
        || async {
            let published: i64 =
                sqlx::query_scalar("SELECT handled_events FROM subscriptions WHERE name = 'relay'")
                    .fetch_one(&db.pool)
                    .await
                    .unwrap();
            (published >= total).then_some(())
        },
    )
    .await;

    let messages = read_until(
        &[format!("{prefix}.stock")],
        Duration::from_secs(60),
        |got| got.len() as i64 >= total,
    )
    .await;
    // Let any duplicate arrive before counting.
    let extra = read_until(
        &[format!("{prefix}.stock")],
        Duration::from_secs(2),
        |got| got.len() as i64 > total,
    )
    .await;
    assert_eq!(extra.len() as i64, total, "no event is published twice");

    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut last_version: HashMap<String, i64> = HashMap::new();
    for m in &messages {
        *seen
            .entry(m.value["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
        let stream = m.value["stream_id"].as_str().unwrap().to_owned();
        let version = m.value["stream_version"].as_i64().unwrap();
        let previous = last_version.insert(stream.clone(), version).unwrap_or(0);
        assert_eq!(version, previous + 1, "{stream} arrived out of order");
    }
    assert_eq!(seen.len() as i64, total, "every event published");
    assert!(seen.values().all(|n| *n == 1), "each exactly once");
}
