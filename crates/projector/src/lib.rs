//! Projector worker: each projection is its own consumer group member that
//! keeps one read model in the `read_models` schema, applying batches in one
//! transaction together with its Kafka offsets and processed event ids.

pub mod catalogue;
pub mod orders;
pub mod position;
pub mod projection;
pub mod rebuild;
pub mod registry;
pub mod replay;
pub mod sales;
pub mod verify;
pub mod worker;

pub use projection::{Projection, ProjectionHandler};
pub use worker::{run, ProjectorConfig};
