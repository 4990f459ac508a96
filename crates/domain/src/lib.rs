//! Stockroom's domain: validated values, the product, stock-item and order
//! aggregates, their commands and events. Pure and synchronous: no I/O, no
//! clocks (time arrives inside commands), so every rule is testable as
//! given / when / then.

pub mod aggregate;
pub mod allocation;
pub mod customer;
pub mod error;
pub mod hold;
pub mod location;
pub mod order;
pub mod product;
pub mod schema;
pub mod stock;
pub mod values;

pub use aggregate::{Aggregate, StreamCategory};
pub use customer::CustomerId;
pub use error::{DomainError, RejectionKind};
pub use values::{Currency, LocationCode, Money, OrderId, Quantity, Sku, ValueError};
