//! Why the domain rejects a command. Every variant says which kind of client
//! error it is, so adapters map kinds, not variants, to protocol statuses.

use thiserror::Error;

use crate::values::{LocationCode, Sku, ValueError};

/// A command the domain refuses. Never an infrastructure failure.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum DomainError {
    /// A field's value breaks a rule (becomes 422 naming the field).
    #[error("{field}: {message}")]
    InvalidField {
        /// JSON path of the offending field, such as `lines[1].sku`.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The aggregate the command addresses does not exist (404).
    #[error("{what} not found")]
    NotFound {
        /// A human name of the missing thing, such as `order 3f2…`.
        what: String,
    },
    /// The aggregate already exists (409).
    #[error("{what} already exists")]
    AlreadyExists {
        /// A human name of the thing, such as `product ABC-1`.
        what: String,
    },
    /// The aggregate's current state forbids the command (409).
    #[error("cannot {action}: {why}")]
    Forbidden {
        /// The command, in words (`pay the order`).
        action: &'static str,
        /// The state that forbids it (`the order is shipped`).
        why: String,
    },
    /// Asking for more units than are free (409).
    #[error("insufficient stock for {sku}: requested {requested}, available {available}")]
    InsufficientStock {
        /// The SKU.
        sku: Sku,
        /// Units asked for (or removed).
        requested: i64,
        /// Units free now.
        available: i64,
    },
    /// A compare-and-set on on-hand units found another value (409
    /// `stale-quantity`): someone counted or moved stock since the caller
    /// looked.
    #[error("on hand at {location} is {actual}, not the expected {expected}")]
    StaleQuantity {
        /// The location.
        location: LocationCode,
        /// What the caller expected.
        expected: i64,
        /// What it is.
        actual: i64,
    },
}

/// How a rejection reads to a client, independent of transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RejectionKind {
    /// Input is invalid: 422.
    Unprocessable,
    /// The addressed aggregate does not exist: 404.
    NotFound,
    /// The state forbids it now: 409.
    Conflict,
}

impl DomainError {
    /// The client-facing kind of this rejection.
    pub fn kind(&self) -> RejectionKind {
        match self {
            Self::InvalidField { .. } => RejectionKind::Unprocessable,
            Self::NotFound { .. } => RejectionKind::NotFound,
            Self::AlreadyExists { .. }
            | Self::Forbidden { .. }
            | Self::InsufficientStock { .. }
            | Self::StaleQuantity { .. } => RejectionKind::Conflict,
        }
    }

    /// Shorthand for [`DomainError::InvalidField`].
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

    /// Turns a value-construction error into a field error at `field`.
    pub fn from_value(field: impl Into<String>, error: ValueError) -> Self {
        Self::invalid(field, error.to_string())
    }
}
