//! `kill -9` the relay in the middle of a backlog: nothing is lost, order per
//! stream holds, and any duplicate carries the original event id.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use domain::StreamCategory;
use store::{append, encode, EventMetadata};

use crate::infra::exclusive;
use crate::support::kafka::read_until;
use crate::support::system::env_for;
use crate::support::{eventually, unique, Proc, TestDb};

const STREAMS: usize = 200;
const PER_STREAM: usize = 100;

/// The relay's cursor position (the last event it published, mid-backlog),
/// its settled position and the log's last position.
async fn checkpoint(db: &TestDb) -> (i64, i64, i64) {
    sqlx::query_as(
        "SELECT position, settled, (SELECT coalesce(max(position), 0) FROM events) \
         FROM subscriptions WHERE name = 'relay'",
    )
    .fetch_optional(&db.pool)
    .await
    .unwrap()
    .unwrap_or((0, 0, 1))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_relay_killed_mid_backlog_loses_nothing_after_restart() {
    let _serial = exclusive().await;
    let db = TestDb::create().await;
    for s in 0..STREAMS {
        let sku = format!("CRASH-{s}");
        let events: Vec<_> = (0..PER_STREAM)
            .map(|i| {
                encode(&domain::stock::StockEvent::StockReceived {
                    sku: domain::Sku::parse(&sku).unwrap(),
                    quantity: domain::Quantity::new(1).unwrap(),
                    reference: Some(format!("{i}")),
                    location: domain::LocationCode::default_location(),
                })
                .unwrap()
            })
            .collect();
        let mut tx = db.pool.begin().await.unwrap();
        append(
            &mut tx,
            StreamCategory::Stock,
            &sku,
            0,
            &events,
            &EventMetadata::new_correlation(None),
        )
        .await
        .unwrap();
        tx.commit().await.unwrap();
    }
    let total = (STREAMS * PER_STREAM) as i64;
    assert_eq!(db.event_count().await, total);

    let prefix = unique("t");
    let env = env_for(&db, &prefix, &[("STOCKROOM_RELAY_BATCH_SIZE", "250")]);
    let mut relay = Proc::spawn("relay", &[], &env).await;
    let published_at_kill = eventually(
        "the relay to be part-way",
        Duration::from_secs(60),
        || async {
            let (position, _, _) = checkpoint(&db).await;
            (position >= 2_000).then_some(position)
        },
    )
    .await;
    relay.kill_hard().await;
    assert!(
        published_at_kill < total,
        "killed mid-backlog (at {published_at_kill} of {total})"
    );

    let _restarted = Proc::spawn("relay", &[], &env).await;
    eventually(
        "the restarted relay to finish the backlog",
        Duration::from_secs(120),
        || async {
            let (_, settled, last) = checkpoint(&db).await;
            (settled >= last).then_some(())
        },
    )
    .await;

    let messages = read_until(
        &[format!("{prefix}.stock")],
        Duration::from_secs(120),
        |got| {
            got.iter()
                .map(|m| m.value["event_id"].as_str().unwrap().to_owned())
                .collect::<HashSet<_>>()
                .len() as i64
                >= total
        },
    )
    .await;

    let mut ids_by_version: HashMap<(String, i64), HashSet<String>> = HashMap::new();
    let mut first_seen: HashMap<String, i64> = HashMap::new();
    for m in &messages {
        let stream = m.value["stream_id"].as_str().unwrap().to_owned();
        let version = m.value["stream_version"].as_i64().unwrap();
        let id = m.value["event_id"].as_str().unwrap().to_owned();
        ids_by_version
            .entry((stream.clone(), version))
            .or_default()
            .insert(id);
        let highest = first_seen.entry(stream.clone()).or_insert(0);
        // A redelivery may repeat older versions; a new version must be the next one.
        assert!(
            version <= *highest + 1,
            "{stream}: version {version} arrived after only {highest}"
        );
        *highest = (*highest).max(version);
    }
    assert_eq!(
        ids_by_version.len() as i64,
        total,
        "every event reached Kafka"
    );
    assert!(
        ids_by_version.values().all(|ids| ids.len() == 1),
        "a duplicate carries the original event id"
    );
    assert!(first_seen.values().all(|v| *v == PER_STREAM as i64));
}
