//! HTTP plumbing shared by the command and query APIs.

pub mod access;
pub mod auth;
pub mod client_limit;
pub mod docs;
pub mod guards;
mod idle;
pub mod layers;
pub mod metrics;
pub mod openapi;
pub mod panic;
pub mod per_client;
pub mod probes;
pub mod problem;
pub mod readiness;
pub mod request_metrics;
pub mod secure;
pub mod serve;
pub mod trace;
pub mod worker;

pub use problem::{FieldError, Problem};
pub use secure::SecureRouter;
pub use serve::serve;
