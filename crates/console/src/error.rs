//! The console's one error type and the one place it becomes a page: what
//! went wrong for the person (never internals), the cause chain for the log.

use askama::Template;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use thiserror::Error;

/// Why a page could not be shown or an action not run.
#[derive(Debug, Error)]
pub enum ConsoleError {
    /// Nothing by that name.
    #[error("{0} not found")]
    NotFound(String),
    /// The form does not carry this session's token (forged, or from a
    /// session that ended).
    #[error(
        "this form has expired or did not come from this console; reload the page and try again"
    )]
    Forged,
    /// The form could not be read.
    #[error("the form could not be read: {0}")]
    BadForm(String),
    /// Too many failed sign-ins of this account from this client: the next
    /// attempt waits this long.
    #[error("too many sign-in attempts; try again in {} s", whole_seconds(*.0))]
    TooManyAttempts(std::time::Duration),
    /// Every password hashing slot is taken.
    #[error("the console is busy; try again in a moment")]
    Busy,
    /// A password that cannot be chosen, or hashing failed.
    #[error("{0}")]
    Password(crate::password::PasswordError),
    /// The signed-in person's role does not allow this.
    #[error("your role does not allow this ({0})")]
    Forbidden(&'static str),
    /// The store or the database failed.
    #[error("the event store failed")]
    Store(#[from] store::StoreError),
    /// A read failed.
    #[error("a read failed")]
    Query(#[from] query_api::error::QueryError),
    /// A command failed for a reason that is not the person's input.
    #[error("a command failed")]
    Command(#[source] command_api::error::ApiError),
    /// The database failed.
    #[error("the database failed")]
    Database(#[from] sqlx::Error),
    /// A page could not be rendered.
    #[error("a page could not be rendered")]
    Template(#[from] askama::Error),
}

impl ConsoleError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Forged | Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::BadForm(_) => StatusCode::BAD_REQUEST,
            Self::TooManyAttempts(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Busy => StatusCode::SERVICE_UNAVAILABLE,
            Self::Password(crate::password::PasswordError::Hashing(_)) => {
                StatusCode::INTERNAL_SERVER_ERROR
            }
            Self::Password(_) => StatusCode::BAD_REQUEST,
            Self::Query(query_api::error::QueryError::NotFound(_)) => StatusCode::NOT_FOUND,
            Self::Store(_)
            | Self::Query(_)
            | Self::Command(_)
            | Self::Database(_)
            | Self::Template(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// `wait` rounded up to whole seconds, at least one (what `Retry-After`
/// can say).
fn whole_seconds(wait: std::time::Duration) -> u64 {
    (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
}

/// A page that says what went wrong.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    message: &'a str,
}

impl IntoResponse for ConsoleError {
    fn into_response(self) -> Response {
        let status = self.status();
        let retry_after = match &self {
            Self::TooManyAttempts(wait) => Some(whole_seconds(*wait)),
            Self::Busy => Some(1),
            _ => None,
        };
        let message = if status.is_server_error() && retry_after.is_none() {
            tracing::error!(error = %store::error_chain(&self), "console request failed");
            "Something went wrong on our side; it has been logged. Try again in a moment."
                .to_owned()
        } else {
            self.to_string()
        };
        let page = ErrorPage {
            status: status.as_u16(),
            message: &message,
        };
        let mut response = match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message).into_response(),
        };
        if let Some(seconds) = retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        response
    }
}
