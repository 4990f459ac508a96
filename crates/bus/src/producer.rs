//! The relay's producer: idempotent, acks from all in-sync replicas, ordered.

use rdkafka::producer::FutureProducer;

use crate::{BusError, KafkaConfig};

/// Producer tuning; the defaults favour safety, then throughput.
#[derive(Debug, Clone)]
pub struct ProducerSettings {
    /// `linger.ms`: how long the client waits to fill a batch.
    pub linger_ms: u32,
    /// `message.timeout.ms`: how long a message may take to be acknowledged
    /// before its delivery fails and the relay retries the batch.
    pub delivery_timeout_ms: u32,
    /// `compression.type`.
    pub compression: String,
    /// `batch.num.messages`: records per record batch. Only a broker that
    /// serves a fetch from inside a batch may be given more than one (the
    /// tansu 0.6.0 release answers with the batches after it, so a consumer
    /// resuming mid-batch would skip the rest): Apache Kafka and the local
    /// broker the scripts install do (`tests/integration/broker_batches.rs`).
    pub batch_messages: u32,
}

impl Default for ProducerSettings {
    fn default() -> Self {
        Self {
            linger_ms: 5,
            delivery_timeout_ms: 30_000,
            compression: "lz4".to_owned(),
            batch_messages: 10_000,
        }
    }
}

/// Builds the idempotent producer. Idempotence implies acks=all, retries and
/// at most five requests in flight per connection, which keeps per-partition
/// order across retries.
pub fn idempotent_producer(
    config: &KafkaConfig,
    settings: &ProducerSettings,
) -> Result<FutureProducer, BusError> {
    Ok(config
        .client()
        .set("enable.idempotence", "true")
        .set("acks", "all")
        .set("linger.ms", settings.linger_ms.to_string())
        .set(
            "message.timeout.ms",
            settings.delivery_timeout_ms.to_string(),
        )
        .set("compression.type", &settings.compression)
        .set("batch.num.messages", settings.batch_messages.to_string())
        .create()?)
}
