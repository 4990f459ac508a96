//! Parked events: what failed, and for admins the envelope and a retry
//! through the consumer that parked it. Operators see the errors only: an
//! envelope carries order data (customers, lines, amounts), which api.md
//! does not give them.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use bus::parking::{self, Parked};
use operations::parked::RetryError;

use super::{render, Done};
use crate::error::ConsoleError;
use crate::login::Nothing;
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, Layout};

/// A parked event as shown; the envelope only to those who may retry it.
struct Row {
    parked: Parked,
    envelope: Option<String>,
}

#[derive(Template)]
#[template(path = "parked.html")]
struct ParkedPage {
    layout: Layout,
    rows: Vec<Row>,
    can_retry: bool,
    error: Option<String>,
}

async fn page(
    console: &Console,
    who: &SignedIn,
    notice: Option<String>,
    error: Option<String>,
) -> Result<ParkedPage, ConsoleError> {
    let can_retry = may(who, "/parked/{id}/retry");
    let rows = parking::list(&console.pool, None)
        .await?
        .into_iter()
        .map(|parked| Row {
            envelope: can_retry
                .then(|| serde_json::to_string_pretty(&parked.envelope).unwrap_or_default()),
            parked,
        })
        .collect();
    Ok(ParkedPage {
        layout: Layout::new(who, "/parked", "Parked events").notice(notice),
        rows,
        can_retry,
        error,
    })
}

/// `GET /parked`.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let notice = done.notice();
    render(StatusCode::OK, &page(&console, &who, notice, None).await?)
}

/// `POST /parked/{id}/retry`.
pub async fn retry(
    State(console): State<Console>,
    Path(id): Path<i64>,
    CsrfForm { who, .. }: CsrfForm<Nothing>,
) -> Result<Response, ConsoleError> {
    let policy = reserver::Policy {
        payment_timeout: chrono::Duration::from_std(console.settings.payment_timeout)
            .unwrap_or(chrono::Duration::MAX),
        allocation: console.settings.allocation,
    };
    match operations::parked::retry(&console.pool, id, policy).await {
        Ok(retried) => {
            tracing::info!(parked = id, consumer = %retried.consumer, user = %who.user.id, "parked event retried from the console");
            Ok(Redirect::to("/parked?done=retried").into_response())
        }
        Err(RetryError::Database(e)) => Err(e.into()),
        Err(e) => {
            let message = store::error_chain(&e);
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                &page(&console, &who, None, Some(message)).await?,
            )
        }
    }
}
