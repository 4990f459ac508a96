//! Where the broker is and how topics are named.

use domain::StreamCategory;
use rdkafka::ClientConfig;

/// Kafka settings shared by every process.
#[derive(Debug, Clone)]
pub struct KafkaConfig {
    /// Bootstrap servers, `host:port[,host:port]`.
    pub brokers: String,
    /// Topic namespace: topics are `{prefix}.products|stock|orders`.
    pub topic_prefix: String,
    /// Partitions per topic when Stockroom creates them.
    pub partitions: i32,
    /// librdkafka `debug` contexts (such as `cgrp,topic`), for troubleshooting.
    pub debug: Option<String>,
    /// Stable identity of this process among the members of its consumer
    /// groups (Kafka static membership): a member restarted under the same
    /// id takes its old partitions back at once instead of waiting for the
    /// dead one to time out. Must differ between live instances.
    pub instance_id: Option<String>,
    /// Replication factor of the topics Stockroom creates; `None` leaves it
    /// to the broker's `default.replication.factor`.
    pub replication_factor: Option<i32>,
    /// Further librdkafka properties for every client (SASL, TLS, …).
    pub properties: Vec<(String, String)>,
}

impl KafkaConfig {
    /// Partitions per topic Stockroom creates, unless configured.
    pub const DEFAULT_PARTITIONS: i32 = 3;

    /// Settings with Stockroom's defaults.
    pub fn new(brokers: impl Into<String>) -> Self {
        Self {
            brokers: brokers.into(),
            topic_prefix: "stockroom".to_owned(),
            partitions: Self::DEFAULT_PARTITIONS,
            debug: None,
            instance_id: None,
            replication_factor: None,
            properties: Vec::new(),
        }
    }

    /// The topic that carries a category's events.
    pub fn topic(&self, category: StreamCategory) -> String {
        format!("{}.{}", self.topic_prefix, category.topic_suffix())
    }

    /// Every Stockroom topic.
    pub fn all_topics(&self) -> Vec<String> {
        StreamCategory::ALL.iter().map(|c| self.topic(*c)).collect()
    }

    /// The category a topic carries, if it is one of ours.
    pub fn category_of(&self, topic: &str) -> Option<StreamCategory> {
        StreamCategory::ALL
            .into_iter()
            .find(|c| self.topic(*c) == topic)
    }

    /// A client config with the bootstrap servers set.
    pub fn client(&self) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("socket.keepalive.enable", "true")
            .set("log_level", "4");
        for (key, value) in &self.properties {
            config.set(key, value);
        }
        if let Some(debug) = &self.debug {
            config.set("debug", debug).set("log_level", "7");
        }
        config
    }
}
