//! Projector worker: each projection follows the log of record (or, on
//! request, its Kafka topics) and keeps one read model in the `read_models`
//! schema, applying each batch in one transaction together with its
//! checkpoint, the processed event ids and its published position.

mod aftersales;
pub mod catalogue;
mod fulfilment;
pub mod orders;
pub mod pace;
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
