//! An independent Kafka reader, as another team's worker would be. It reads
//! every partition by assignment, not through a consumer group: what a test
//! asks is what was published, and the local broker takes up to half a
//! minute to give a new group its first assignment (README, "The local
//! broker"). Consumer groups are tested where Stockroom uses them
//! (`--source kafka`).

use std::time::Duration;

use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::{Headers, Message};
use rdkafka::{ClientConfig, Offset, TopicPartitionList};
use serde_json::Value;

/// One message as read from the broker.
#[derive(Debug, Clone)]
pub struct Received {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Key as text.
    pub key: String,
    /// Headers as text.
    pub headers: Vec<(String, String)>,
    /// Value as JSON.
    pub value: Value,
}

impl Received {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Reads `topics` from the beginning until `done` says enough or `timeout`.
pub async fn read_until(
    topics: &[String],
    timeout: Duration,
    mut done: impl FnMut(&[Received]) -> bool,
) -> Vec<Received> {
    let consumer: StreamConsumer = ClientConfig::new()
        .set("bootstrap.servers", super::system::brokers())
        .set("group.id", super::unique("reader-"))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let deadline = tokio::time::Instant::now() + timeout;
    let mut partitions = TopicPartitionList::new();
    for topic in topics {
        // The topic may not exist yet: ask again until it has partitions.
        let count = loop {
            let metadata = consumer
                .fetch_metadata(Some(topic), Duration::from_secs(5))
                .unwrap();
            let count = metadata
                .topics()
                .first()
                .map_or(0, |t| t.partitions().len());
            if count > 0 || tokio::time::Instant::now() >= deadline {
                break count;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        for partition in 0..count as i32 {
            partitions
                .add_partition_offset(topic, partition, Offset::Beginning)
                .unwrap();
        }
    }
    consumer.assign(&partitions).unwrap();
    let mut received = Vec::new();
    while !done(&received) {
        let Ok(message) = tokio::time::timeout_at(deadline, consumer.recv()).await else {
            break;
        };
        let message = message.unwrap();
        let headers = message
            .headers()
            .map(|h| {
                h.iter()
                    .map(|x| {
                        (
                            x.key.to_owned(),
                            String::from_utf8_lossy(x.value.unwrap_or_default()).into_owned(),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default();
        received.push(Received {
            topic: message.topic().to_owned(),
            partition: message.partition(),
            key: String::from_utf8_lossy(message.key().unwrap_or_default()).into_owned(),
            headers,
            value: serde_json::from_slice(message.payload().unwrap_or_default()).unwrap(),
        });
    }
    received
}
