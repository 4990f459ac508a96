//! The reservation process: an event-driven process manager that follows
//! the order events of the log (or, on request, the orders topic). It reserves stock for placed orders all-or-nothing, releases it on
//! cancellation and expiry, commits it on shipment, and expires confirmed
//! orders left unpaid.

pub mod deadlines;
pub mod expirer;
pub mod handler;
pub mod reservations;
pub mod worker;

pub use worker::{run, ReserverConfig};
