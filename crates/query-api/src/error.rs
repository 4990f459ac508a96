//! The one error type of the query API and the one place it becomes HTTP.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use store::error_chain;
use thiserror::Error;
use web::{FieldError, Problem};

/// Why a query failed.
#[derive(Debug, Error)]
pub enum QueryError {
    /// The resource does not exist (or is not projected yet).
    #[error("{0} not found")]
    NotFound(String),
    /// A query parameter or header is invalid.
    #[error("invalid query")]
    BadQuery(Vec<FieldError>),
    /// The read models did not reach the requested position in time.
    #[error("read models have not reached position {wanted} yet (at {at})")]
    NotCaughtUp {
        /// The position asked for.
        wanted: i64,
        /// Where the read models are.
        at: i64,
    },
    /// The key holds as many event streams open as it may.
    #[error("this key already holds {0} open event streams")]
    TooManyStreams(usize),
    /// The database failed.
    #[error("database failed")]
    Database(#[from] sqlx::Error),
    /// The log could not be read (unreachable, or an event it holds cannot
    /// be decoded).
    #[error("event store failed")]
    Store(#[from] store::StoreError),
}

impl QueryError {
    /// One bad parameter.
    pub fn bad(field: &str, message: impl Into<String>) -> Self {
        Self::BadQuery(vec![FieldError::new(field, message)])
    }
}

impl IntoResponse for QueryError {
    fn into_response(self) -> Response {
        let problem = match &self {
            Self::NotFound(_) => Problem::new(StatusCode::NOT_FOUND, "not-found", self.to_string()),
            Self::BadQuery(errors) => {
                Problem::new(StatusCode::BAD_REQUEST, "bad-query", self.to_string())
                    .with_errors(errors.clone())
            }
            Self::NotCaughtUp { at, .. } => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "not-caught-up",
                self.to_string(),
            )
            .with("projection_position", *at)
            .retry_after(1),
            Self::TooManyStreams(_) => Problem::new(
                StatusCode::TOO_MANY_REQUESTS,
                "too-many-streams",
                self.to_string(),
            )
            .retry_after(5),
            Self::Database(e) => {
                tracing::error!(error = %error_chain(e), "query failed");
                Problem::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "the read models are unavailable; retry later",
                )
                .retry_after(1)
            }
            Self::Store(e) => {
                tracing::error!(error = %error_chain(e), "reading the log failed");
                Problem::new(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal",
                    "the history could not be read",
                )
            }
        };
        problem.into_response()
    }
}
