//! Creating Stockroom's topics and checking that the broker answers.

use std::sync::Arc;
use std::time::Duration;

use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::error::RDKafkaErrorCode;
use rdkafka::producer::{BaseProducer, Producer};

use crate::{BusError, KafkaConfig};

/// Creates every Stockroom topic that does not exist yet.
#[tracing::instrument(skip_all, fields(brokers = %config.brokers))]
pub async fn ensure_topics(config: &KafkaConfig) -> Result<(), BusError> {
    let admin: AdminClient<DefaultClientContext> = config.client().create()?;
    let names = config.all_topics();
    let topics: Vec<NewTopic<'_>> = names
        .iter()
        // -1 asks the broker for its default replication factor.
        .map(|name| {
            let replication = config.replication_factor.unwrap_or(-1);
            NewTopic::new(
                name,
                config.partitions,
                TopicReplication::Fixed(replication),
            )
        })
        .collect();
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    for result in admin.create_topics(&topics, &options).await? {
        match result {
            Ok(topic) => tracing::info!(%topic, "created topic"),
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((topic, code)) => {
                return Err(BusError::Kafka(rdkafka::error::KafkaError::AdminOp(code)))
                    .inspect_err(|_| tracing::error!(%topic, ?code, "cannot create topic"))
            }
        }
    }
    Ok(())
}

/// A long-lived client used to answer "is the broker reachable?" cheaply.
#[derive(Clone)]
pub struct BrokerProbe(Arc<BaseProducer>);

impl BrokerProbe {
    /// Creates the probe's client (no connection is made yet).
    pub fn new(config: &KafkaConfig) -> Result<Self, BusError> {
        Ok(Self(Arc::new(config.client().create()?)))
    }

    /// Whether the broker answers a metadata request within `timeout`.
    pub async fn reachable(&self, timeout: Duration) -> bool {
        let producer = Arc::clone(&self.0);
        tokio::task::spawn_blocking(move || producer.client().fetch_metadata(None, timeout).is_ok())
            .await
            .unwrap_or(false)
    }
}
