//! The Kafka side of Stockroom: the public envelope, topic names, the
//! transactional-outbox relay and the consumer toolkit our workers share.

pub mod admin;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod error;
pub mod offsets;
pub mod parking;
pub mod producer;
pub mod relay;

pub use config::KafkaConfig;
pub use consumer::{BatchConsumer, Delivered};
pub use envelope::Envelope;
pub use error::BusError;
pub use relay::{Relay, RelayConfig};
