//! `stockroom republish` against a running relay, and what a Kafka-fed
//! worker acts on: only the log of record's events, and not those its group
//! handled before a republish.

use std::collections::HashMap;
use std::time::Duration;

use bus::offsets::OffsetMap;
use bus::source::{Batch, Progress};
use store::RecordedEvent;

use crate::support::kafka::read_until;
use crate::support::system::env_for;
use crate::support::{eventually, unique, Proc, TestDb};

async fn relay_published_everything(db: &TestDb) -> bool {
    sqlx::query_scalar(
        "SELECT settled >= (SELECT max(position) FROM events) FROM subscriptions WHERE name = 'relay'",
    )
    .fetch_optional(&db.pool)
    .await
    .unwrap()
    .unwrap_or(false)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_republish_while_the_relay_runs_is_carried_out_not_overwritten() {
    let db = TestDb::create().await;
    let prefix = unique("t");
    let mut relay = Proc::spawn("relay", &[], &env_for(&db, &prefix, &[])).await;
    db.append_product_events("REPUB-1", 0, 30).await;
    eventually(
        "the relay to publish 30 events",
        Duration::from_secs(30),
        || async { relay_published_everything(&db).await.then_some(()) },
    )
    .await;

    let mut conn = db.pool.acquire().await.unwrap();
    let again = bus::relay::republish(&mut conn, Some(10)).await.unwrap();
    assert_eq!(again, 10);
    // The running relay's next checkpoint save must not undo the rewind.
    db.append_product_events("REPUB-1", 30, 1).await;

    let topic = format!("{prefix}.products");
    let got = read_until(&[topic], Duration::from_secs(30), |got| got.len() >= 41).await;
    let mut copies: HashMap<String, usize> = HashMap::new();
    for message in &got {
        *copies
            .entry(message.value["event_id"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    assert_eq!(got.len(), 41, "30 published, the last 10 again, then 1 new");
    assert_eq!(copies.values().filter(|n| **n == 2).count(), 10);
    relay.terminate().await;
}

fn delivered(event: &RecordedEvent, partition: i32) -> bus::Delivered {
    bus::Delivered {
        topic: "t.products".into(),
        partition,
        offset: event.position,
        envelope: bus::Envelope::from(event),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_kafka_batch_acts_on_the_log_of_record_and_skips_what_its_group_handled() {
    let db = TestDb::create().await;
    db.append_product_events("VOUCH-1", 0, 4).await;
    let mut conn = db.pool.acquire().await.unwrap();
    let events = store::read_stream(&mut conn, "product-VOUCH-1", None)
        .await
        .unwrap();
    assert_eq!(events.len(), 4);

    // The group handled the first two from partition 0, then the broker
    // lost its data and a republish reset the offsets.
    let handled_batch: Vec<_> = events[..2].iter().map(|e| delivered(e, 0)).collect();
    let next: OffsetMap = [(("t.products".to_owned(), 0), 2)].into();
    bus::offsets::store(&mut conn, "group-1", &next, &handled_batch)
        .await
        .unwrap();
    bus::relay::republish(&mut conn, None).await.unwrap();

    // Republished: all four again, one of them tampered with, and one
    // message of an event the log never held.
    let mut messages: Vec<_> = events.iter().map(|e| delivered(e, 0)).collect();
    messages[3].envelope.data = serde_json::json!({"sku": "SOMETHING-ELSE"});
    let mut invented = delivered(&events[3], 0);
    invented.envelope.event_id = uuid::Uuid::now_v7();
    messages.push(invented);
    let batch = Batch {
        messages,
        malformed: vec![],
        progress: Progress::Offsets(OffsetMap::new()),
    };
    let vouched = bus::vouch::against_log(&mut conn, "group-1", batch)
        .await
        .unwrap();

    let positions: Vec<i64> = vouched
        .messages
        .iter()
        .map(|m| m.envelope.global_position)
        .collect();
    assert_eq!(positions, vec![events[2].position, events[3].position]);
    assert_eq!(
        vouched.messages[1].envelope.data, events[3].data,
        "the log's version of the event is what the worker gets"
    );
    assert_eq!(vouched.malformed.len(), 1);
    assert!(vouched.malformed[0]
        .error
        .contains("not in the log of record"));
    let offsets: Vec<i64> = sqlx::query_scalar(
        "SELECT next_offset FROM consumer_offsets WHERE consumer_group = 'group-1'",
    )
    .fetch_all(&mut *conn)
    .await
    .unwrap();
    assert_eq!(
        offsets,
        vec![0],
        "offsets into the lost topics are forgotten"
    );
}
