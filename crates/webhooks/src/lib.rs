//! Webhooks on top of the event feed: each endpoint follows the feed's
//! order (positions below the log's settled horizon, read by
//! [`store::feed`]) from a checkpoint of its own, gets ordered batches of
//! the Kafka envelopes POSTed and signed ([`signature`]), and is retried
//! with capped exponential backoff for ever. A failing endpoint only falls
//! behind: its checkpoint moves only once it accepted a batch, and every
//! endpoint has its own task, so it never holds the others back.

pub mod backoff;
pub mod config;
pub mod delivery;
pub mod endpoint;
pub mod run;
pub mod signature;

pub use config::WebhooksConfig;
pub use run::{run, WebhooksError};
