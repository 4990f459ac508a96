//! The command API: shop frontends place orders, staff manage products and
//! stock. Every accepted command appends events to the event store.

pub mod catalogue;
pub mod channel_limits;
pub mod error;
pub mod extract;
pub mod hold_settings;
pub mod routes;
pub mod runner;
pub mod state;

pub use routes::{commands, router};
pub use state::AppState;
