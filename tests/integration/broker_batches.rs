//! The relay writes many records per record batch (`STOCKROOM_RELAY_BATCH_MESSAGES`)
//! only on a broker that serves a fetch from inside a batch: a consumer that
//! resumes at an offset in the middle of one must be given the rest of it,
//! not the batches after it (which tansu 0.6.0 did). This holds the local
//! broker to that.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures::future::join_all;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::{ClientContext, DefaultClientContext};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::message::Message;
use rdkafka::producer::{FutureProducer, FutureRecord};
use rdkafka::statistics::Statistics;
use rdkafka::{ClientConfig, Offset, TopicPartitionList};

use crate::support::system::brokers;
use crate::support::unique;

/// The most records the producer has put in one batch, from its statistics:
/// the proof that the test's records share a batch.
#[derive(Clone, Default)]
struct LargestBatch(Arc<AtomicI64>);

impl ClientContext for LargestBatch {
    fn stats(&self, statistics: Statistics) {
        for topic in statistics.topics.values() {
            self.0.fetch_max(topic.batchcnt.max, Ordering::SeqCst);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_reader_resuming_inside_a_record_batch_gets_the_rest_of_it() {
    let topic = unique("batches-");
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .create()
        .unwrap();
    for created in admin
        .create_topics(
            &[NewTopic::new(&topic, 1, TopicReplication::Fixed(1))],
            &AdminOptions::new(),
        )
        .await
        .unwrap()
    {
        created.unwrap();
    }

    // Ten records queued at once, with time to gather them: one batch.
    let largest = LargestBatch::default();
    let producer: FutureProducer<LargestBatch> = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("enable.idempotence", "true")
        .set("linger.ms", "200")
        .set("batch.num.messages", "10000")
        .set("compression.type", "lz4")
        .set("statistics.interval.ms", "100")
        .create_with_context(largest.clone())
        .unwrap();
    let payloads: Vec<String> = (0..10).map(|n| format!("record {n}")).collect();
    let sent = join_all(payloads.iter().map(|payload| {
        producer.send(
            FutureRecord::to(&topic)
                .partition(0)
                .key("k")
                .payload(payload),
            Duration::from_secs(10),
        )
    }))
    .await;
    let offsets: Vec<i64> = sent.into_iter().map(|r| r.unwrap().offset).collect();
    assert_eq!(offsets, (0..10).collect::<Vec<_>>());
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while largest.0.load(Ordering::SeqCst) == 0 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        largest.0.load(Ordering::SeqCst),
        10,
        "the ten records did not go in one batch"
    );

    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers())
        .set("group.id", unique("batch-reader-"))
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut from = TopicPartitionList::new();
    from.add_partition_offset(&topic, 0, Offset::Offset(5))
        .unwrap();
    consumer.assign(&from).unwrap();
    let got = tokio::task::spawn_blocking(move || {
        let mut got = Vec::new();
        let deadline = std::time::Instant::now() + Duration::from_secs(15);
        while got.len() < 5 && std::time::Instant::now() < deadline {
            if let Some(message) = consumer.poll(Duration::from_millis(200)) {
                let message = message.unwrap();
                got.push((
                    message.offset(),
                    String::from_utf8_lossy(message.payload().unwrap_or_default()).into_owned(),
                ));
            }
        }
        got
    })
    .await
    .unwrap();
    let expected: Vec<(i64, String)> = (5..10).map(|n| (n, format!("record {n}"))).collect();
    assert_eq!(got, expected);
}
