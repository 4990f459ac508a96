//! The query API: serves the read models to shop frontends and analysts,
//! with read-your-writes on request.

pub mod actors;
pub mod csv;
pub mod error;
pub mod freshness;
pub mod horizon;
pub mod params;
pub mod routes;
pub mod state;

pub use routes::{reads, router};
pub use state::{AppState, DEFAULT_MAX_WAIT};
