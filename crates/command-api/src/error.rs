//! The one error type of the command API and the one place it becomes HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use domain::{DomainError, RejectionKind};
use store::{error_chain, CommandError, StoreError};
use thiserror::Error;
use web::{FieldError, Problem};

/// Why a command request failed.
#[derive(Debug, Error)]
pub enum ApiError {
    /// The domain refused the command.
    #[error(transparent)]
    Rejected(#[from] DomainError),
    /// Fields are missing, of the wrong type or out of range.
    #[error("invalid request body")]
    Validation(Vec<FieldError>),
    /// The body is not JSON.
    #[error("malformed JSON: {0}")]
    MalformedJson(String),
    /// The body is not declared as JSON.
    #[error("expected Content-Type: application/json")]
    UnsupportedMediaType,
    /// The body is over the limit.
    #[error("request body too large")]
    PayloadTooLarge,
    /// A header is malformed.
    #[error("header {name}: {message}")]
    BadHeader {
        /// Header name.
        name: &'static str,
        /// What is wrong.
        message: String,
    },
    /// `If-Match` named another version.
    #[error("the stream is at version {current}, not {expected}")]
    PreconditionFailed {
        /// Version the client sent.
        expected: i64,
        /// Version the stream is at.
        current: i64,
    },
    /// An `Idempotency-Key` was reused with another request.
    #[error("this Idempotency-Key was used with a different request")]
    IdempotencyMismatch,
    /// The path names nothing.
    #[error("{0} not found")]
    NotFound(String),
    /// Still losing races after every retry.
    #[error("the resource is changing too fast; retry")]
    Contended,
    /// The caller's sales channel holds as many open unpaid orders as it may.
    #[error("this sales channel has {limit} open unpaid orders, as many as it may; retry once some are paid or expire")]
    ChannelFull {
        /// The channel's bound.
        limit: i64,
    },
    /// Lines of a hold that cannot all be held (409 `insufficient-stock`,
    /// naming each short line and what it could have).
    #[error("not enough stock to hold every line")]
    ShortLines(Vec<Shortage>),
    /// No authenticated caller reached a handler (authentication did not run).
    #[error("a valid API key is required")]
    Unauthenticated,
    /// The store or the database failed.
    #[error("infrastructure failed")]
    Infrastructure(#[source] StoreError),
}

/// One line a hold could not have in full.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Shortage {
    /// The SKU.
    pub sku: String,
    /// Units asked for.
    pub requested: i64,
    /// Units that could be held for it where it may take them.
    pub available: i64,
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        if e.is_conflict() {
            Self::Contended
        } else {
            Self::Infrastructure(e)
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        Self::Infrastructure(e.into())
    }
}

impl From<CommandError> for ApiError {
    fn from(e: CommandError) -> Self {
        match e {
            CommandError::Rejected(e) => Self::Rejected(e),
            CommandError::VersionMismatch { expected, current } => {
                Self::PreconditionFailed { expected, current }
            }
            CommandError::Store(e) => e.into(),
        }
    }
}

impl ApiError {
    /// Whether the request was refused on its merits, so a replay of the
    /// same idempotency key should answer the same.
    pub fn is_decided(&self) -> bool {
        matches!(
            self,
            Self::Rejected(_)
                | Self::PreconditionFailed { .. }
                | Self::NotFound(_)
                | Self::ShortLines(_)
        )
    }

    /// The problem body, with nothing internal in it.
    pub fn to_problem(&self) -> Problem {
        use StatusCode as S;
        match self {
            Self::Rejected(e) => match (e.kind(), e) {
                (RejectionKind::Unprocessable, DomainError::InvalidField { field, message }) => {
                    Problem::new(S::UNPROCESSABLE_ENTITY, "validation", e.to_string())
                        .with_errors(vec![FieldError::new(field, message)])
                }
                (RejectionKind::Unprocessable, _) => {
                    Problem::new(S::UNPROCESSABLE_ENTITY, "validation", e.to_string())
                }
                (RejectionKind::NotFound, _) => {
                    Problem::new(S::NOT_FOUND, "not-found", e.to_string())
                }
                (RejectionKind::Conflict, DomainError::InsufficientStock { .. }) => {
                    Problem::new(S::CONFLICT, "insufficient-stock", e.to_string())
                }
                (
                    RejectionKind::Conflict,
                    DomainError::StaleQuantity {
                        location, actual, ..
                    },
                ) => Problem::new(S::CONFLICT, "stale-quantity", e.to_string())
                    .with("location", location.as_str())
                    .with("current_on_hand", *actual),
                (RejectionKind::Conflict, _) => {
                    Problem::new(S::CONFLICT, "conflict", e.to_string())
                }
            },
            Self::Validation(errors) => {
                Problem::new(S::UNPROCESSABLE_ENTITY, "validation", self.to_string())
                    .with_errors(errors.clone())
            }
            Self::MalformedJson(_) => {
                Problem::new(S::BAD_REQUEST, "malformed-json", self.to_string())
            }
            Self::UnsupportedMediaType => Problem::new(
                S::UNSUPPORTED_MEDIA_TYPE,
                "unsupported-media-type",
                self.to_string(),
            ),
            Self::PayloadTooLarge => {
                Problem::new(S::PAYLOAD_TOO_LARGE, "body-too-large", self.to_string())
            }
            Self::BadHeader { .. } => Problem::new(S::BAD_REQUEST, "bad-header", self.to_string()),
            Self::PreconditionFailed { current, .. } => {
                Problem::new(S::PRECONDITION_FAILED, "version-mismatch", self.to_string())
                    .with("current_version", *current)
            }
            Self::IdempotencyMismatch => Problem::new(
                S::UNPROCESSABLE_ENTITY,
                "idempotency-key-reused",
                self.to_string(),
            ),
            Self::NotFound(_) => Problem::new(S::NOT_FOUND, "not-found", self.to_string()),
            Self::Contended => Problem::new(S::CONFLICT, "contended", self.to_string()),
            Self::ShortLines(lines) => {
                Problem::new(S::CONFLICT, "insufficient-stock", self.to_string())
                    .with("lines", serde_json::to_value(lines).unwrap_or_default())
            }
            Self::ChannelFull { .. } => {
                Problem::new(S::TOO_MANY_REQUESTS, "channel-full", self.to_string()).retry_after(30)
            }
            Self::Unauthenticated => {
                Problem::new(S::UNAUTHORIZED, "unauthenticated", self.to_string())
            }
            Self::Infrastructure(e) if is_unavailable(e) => Problem::new(
                S::SERVICE_UNAVAILABLE,
                "unavailable",
                "a backing service is unavailable; retry later",
            )
            .retry_after(1),
            Self::Infrastructure(_) => Problem::new(
                S::INTERNAL_SERVER_ERROR,
                "internal",
                "an internal error occurred; it has been logged",
            ),
        }
    }
}

/// Whether the failure is the database being unreachable, or not fit to
/// take appends until an operator acts (503, not 500).
fn is_unavailable(e: &StoreError) -> bool {
    let e = e.cause();
    matches!(
        e,
        StoreError::Database(
            sqlx::Error::Io(_) | sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed
        ) | StoreError::RestoredCopy
            | StoreError::SessionNotPinned { .. }
    ) || matches!(e, StoreError::Database(sqlx::Error::Database(db)) if db.code().is_some_and(|c| c.starts_with("57") || c.starts_with("08")))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let problem = self.to_problem();
        if problem.status >= 500 {
            tracing::error!(error = %error_chain(&self), "request failed");
        } else {
            tracing::debug!(error = %self, "request refused");
        }
        problem.into_response()
    }
}
