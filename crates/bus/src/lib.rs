//! Stockroom's event pipeline: the public envelope and topics, the
//! transactional-outbox relay to Kafka, and the toolkit every worker runs on
//! (sources — the log of record by default, Kafka on request — handlers,
//! deduplication, parking, the retry loop).

pub mod admin;
pub mod config;
pub mod consumer;
pub mod envelope;
pub mod error;
pub mod handler;
pub mod horizon;
pub mod log_source;
pub mod offsets;
pub mod parking;
pub mod producer;
pub mod relay;
pub mod run;
pub mod source;
pub mod stall;
pub mod vouch;
pub mod wake;

pub use config::KafkaConfig;
pub use consumer::BatchConsumer;
pub use envelope::Envelope;
pub use error::BusError;
pub use handler::{BatchHandler, Delivered, HandlerError};
pub use log_source::{LogSettings, LogSource};
pub use relay::{Relay, RelayConfig};
pub use source::{EventSource, Progress, SourceKind};
