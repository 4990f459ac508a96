//! HTTP plumbing shared by the command and query APIs.

pub mod guards;
pub mod layers;
pub mod metrics;
pub mod probes;
pub mod problem;
pub mod serve;

pub use problem::{FieldError, Problem};
pub use serve::serve;
