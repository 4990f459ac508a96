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
async fn a_republish_is_refused_while_the_relay_runs_and_carried_out_once_it_stopped() {
    let db = TestDb::create().await;
    let prefix = unique("t");
    let env = env_for(&db, &prefix, &[]);
    let mut relay = Proc::spawn("relay", &[], &env).await;
    db.append_product_events("REPUB-1", 0, 30).await;
    eventually(
        "the relay to publish 30 events",
        Duration::from_secs(30),
        || async { relay_published_everything(&db).await.then_some(()) },
    )
    .await;

    // A running relay would publish its batch in flight to the new broker
    // before it saw the rewind: refused, and nothing changes.
    let mut conn = db.pool.acquire().await.unwrap();
    let refused = bus::relay::republish(&mut conn, Some(10)).await;
    assert!(
        matches!(refused, Err(bus::BusError::FollowersRunning { ref pids }) if !pids.is_empty()),
        "{refused:?}"
    );
    assert!(relay_published_everything(&db).await);

    relay.terminate().await;
    let again = bus::relay::republish(&mut conn, Some(10)).await.unwrap();
    assert_eq!(again, 10);
    db.append_product_events("REPUB-1", 30, 1).await;
    let mut relay = Proc::spawn("relay", &[], &env).await;

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

#[tokio::test(flavor = "multi_thread")]
async fn a_rewind_never_moves_the_relay_forward_nor_raises_its_settled_position() {
    let db = TestDb::create().await;
    db.append_product_events("REWIND-1", 0, 10).await;
    // The relay published only the first three events.
    sqlx::query(
        "UPDATE subscriptions s SET transaction_id = e.transaction_id, position = e.position, \
                settled = e.position \
         FROM events e WHERE s.name = 'relay' AND e.position = 3",
    )
    .execute(&db.pool)
    .await
    .unwrap();

    // The tail is counted below the horizon; once another test's open
    // transaction stops holding it back, the tail is this test's last events.
    db.wait_below_horizon().await;
    // Asked to publish only the last two again, it still publishes the
    // seven it never did.
    let mut conn = db.pool.acquire().await.unwrap();
    let again = bus::relay::republish(&mut conn, Some(2)).await.unwrap();
    assert_eq!(again, 7);
    let (position, settled): (i64, i64) =
        sqlx::query_as("SELECT position, settled FROM subscriptions WHERE name = 'relay'")
            .fetch_one(&db.pool)
            .await
            .unwrap();
    assert_eq!((position, settled), (3, 3));
}

fn kafka() -> bus::KafkaConfig {
    let mut kafka = bus::KafkaConfig::new("127.0.0.1:9");
    kafka.topic_prefix = "t".into();
    kafka
}

fn delivered(event: &RecordedEvent, partition: i32) -> bus::Delivered {
    bus::Delivered {
        topic: kafka().topic(domain::StreamCategory::Product),
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
    let next: OffsetMap = [((kafka().topic(domain::StreamCategory::Product), 0), 2)].into();
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
    // A genuine event copied onto another category's topic.
    let mut elsewhere = delivered(&events[3], 0);
    elsewhere.topic = kafka().topic(domain::StreamCategory::Order);
    messages.push(elsewhere);
    let batch = Batch {
        messages,
        malformed: vec![],
        progress: Progress::Offsets(OffsetMap::new()),
    };
    let vouched = bus::vouch::against_log(&mut conn, &kafka(), "group-1", batch)
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
    assert_eq!(vouched.malformed.len(), 2, "the invented one and the copy");
    assert!(vouched
        .malformed
        .iter()
        .all(|m| m.error.contains("not in the log of record")));
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
