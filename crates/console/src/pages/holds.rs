//! Cart holds: the active ones, soonest end first, and releasing one.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use command_api::commands::{release_hold_command, ReleaseBody};
use serde::Deserialize;

use super::{acting, after, render, Done};
use crate::error::ConsoleError;
use crate::forms::{given, outcome, FormErrors};
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, Layout};

/// Holds shown at most.
const LIMIT: i64 = 200;

/// A hold as a row.
struct Row {
    id: String,
    channel: String,
    lines: String,
    expires_at: String,
}

#[derive(Template)]
#[template(path = "holds.html")]
struct HoldsPage {
    layout: Layout,
    rows: Vec<Row>,
    can_release: bool,
    errors: FormErrors,
}

/// What the release form sends.
#[derive(Debug, Default, Deserialize)]
pub struct ReleaseForm {
    #[serde(default)]
    reason: String,
}

async fn page(
    console: &Console,
    who: &SignedIn,
    notice: Option<String>,
    errors: FormErrors,
) -> Result<HoldsPage, ConsoleError> {
    let holds = store::holds::active(&console.reads, LIMIT).await?;
    let rows = holds
        .into_iter()
        .map(|h| Row {
            id: h.hold_id.to_string(),
            channel: h.channel.unwrap_or_else(|| "none".to_owned()),
            lines: h
                .lines
                .as_array()
                .map(Vec::as_slice)
                .unwrap_or(&[])
                .iter()
                .map(|l| {
                    format!(
                        "{} × {} at {}",
                        l["quantity"],
                        l["sku"].as_str().unwrap_or(""),
                        l["location"].as_str().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
            expires_at: h.expires_at.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        })
        .collect();
    Ok(HoldsPage {
        layout: Layout::new(who, "/holds", "Cart holds").notice(notice),
        rows,
        can_release: may(who, "/holds/{id}/release"),
        errors,
    })
}

/// `GET /holds`.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    // Holds are read from their current-state rows: nothing to wait for.
    let page = page(&console, &who, done.notice(), FormErrors::default()).await?;
    render(StatusCode::OK, &page)
}

/// `POST /holds/{id}/release`.
pub async fn release(
    State(console): State<Console>,
    Path(id): Path<String>,
    CsrfForm { who, form }: CsrfForm<ReleaseForm>,
) -> Result<Response, ConsoleError> {
    let body = ReleaseBody {
        reason: given(&form.reason),
    };
    let result = release_hold_command(&console.commands, &acting(&who), &[], &id, &body).await;
    match outcome(result)? {
        Ok(answer) => Ok(after("/holds", "released", &answer)),
        Err(errors) => render(
            StatusCode::UNPROCESSABLE_ENTITY,
            &page(&console, &who, None, errors).await?,
        ),
    }
}
