//! The reservation process: an event-driven process manager that follows
//! the order events of the log (or, on request, the orders topic). It reserves
//! stock for placed orders all-or-nothing, a batch of orders per transaction,
//! releases it on
//! cancellation and expiry, commits it on shipment, expires confirmed
//! orders left unpaid and cart holds past their end, and purges bookkeeping rows past their retention.

pub mod batch;
pub mod deadlines;
pub mod expirer;
pub mod handler;
pub mod hold_expirer;
pub mod janitor;
pub mod worker;

pub use batch::Policy;
pub use worker::{run, ReserverConfig};
