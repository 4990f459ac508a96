//! Projections: where each is, and for admins rebuilds and verifications
//! with their progress (the page reloads itself while one runs).

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::Extension;
use projector::registry::{rebuild_named, verify_named, NAMES};
use query_api::reads::{projection_status, ProjectionView};

use super::{render, Done};
use crate::error::ConsoleError;
use crate::jobs::{Job, JobKind};
use crate::login::Nothing;
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, Layout};

/// Seconds between reloads while a job runs.
const RELOAD_SECONDS: u32 = 2;

/// A projection with its job.
struct Row {
    view: ProjectionView,
    job: Option<Job>,
}

#[derive(Template)]
#[template(path = "projections.html")]
struct ProjectionsPage {
    layout: Layout,
    rows: Vec<Row>,
    can_manage: bool,
}

/// `GET /projections`.
pub async fn show(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    let notice = done.notice();
    let mut jobs = console.jobs.snapshot();
    // Webhook endpoints are followers too, but nothing here rebuilds them:
    // the dashboard shows how far behind they are.
    let rows: Vec<Row> = projection_status(&console.pool)
        .await?
        .into_iter()
        .filter(|view| NAMES.contains(&view.name.as_str()))
        .map(|view| Row {
            job: jobs.remove(&view.name),
            view,
        })
        .collect();
    let mut layout = Layout::new(&who, "/projections", "Projections").notice(notice);
    if rows
        .iter()
        .any(|r| r.job.as_ref().is_some_and(Job::running))
    {
        layout.refresh = Some(RELOAD_SECONDS);
    }
    let page = ProjectionsPage {
        layout,
        rows,
        can_manage: may(&who, "/projections/{name}/rebuild"),
    };
    render(StatusCode::OK, &page)
}

fn known(name: &str) -> Result<&'static str, ConsoleError> {
    NAMES
        .iter()
        .copied()
        .find(|n| *n == name)
        .ok_or_else(|| ConsoleError::NotFound(format!("projection {name}")))
}

/// Starts `kind` on projection `name` in the background; the page follows it.
fn start(console: &Console, who: &SignedIn, name: &'static str, kind: JobKind) -> Response {
    if !console.jobs.start(name, kind) {
        return Redirect::to("/projections").into_response();
    }
    tracing::info!(projection = name, job = kind.label(), user = %who.user.id, "projection job started from the console");
    let (pool, jobs) = (console.pool.clone(), console.jobs.clone());
    tokio::spawn(async move {
        let outcome = match kind {
            JobKind::Rebuild => {
                let progress = jobs.progress(name);
                match rebuild_named(&pool, name, &progress).await {
                    Some(Ok(report)) => Ok(format!(
                        "rebuilt from {} events ({} skipped as undecodable) in a {} ms swap",
                        report.events, report.skipped, report.swap_millis
                    )),
                    Some(Err(e)) => Err(store::error_chain(&e)),
                    None => Err(format!("no projection {name}")),
                }
            }
            JobKind::Verify => match verify_named(&pool, name).await {
                Some(Ok(v)) if v.differences.is_empty() => {
                    Ok(format!("no differences ({} events recomputed)", v.events))
                }
                Some(Ok(v)) => Err(v
                    .differences
                    .iter()
                    .map(|d| {
                        format!(
                            "table {} differs: {} rows only in the live model, {} only in the recomputed one",
                            d.table, d.only_live, d.only_recomputed
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("; ")),
                Some(Err(e)) => Err(store::error_chain(&e)),
                None => Err(format!("no projection {name}")),
            },
        };
        if let Err(e) = &outcome {
            tracing::error!(projection = name, job = kind.label(), error = %e, "projection job failed");
        }
        jobs.finish(name, outcome);
    });
    Redirect::to(&format!(
        "/projections?done={}",
        match kind {
            JobKind::Rebuild => "rebuild",
            JobKind::Verify => "verify",
        }
    ))
    .into_response()
}

/// `POST /projections/{name}/rebuild`.
pub async fn rebuild(
    State(console): State<Console>,
    Path(name): Path<String>,
    CsrfForm { who, .. }: CsrfForm<Nothing>,
) -> Result<Response, ConsoleError> {
    Ok(start(&console, &who, known(&name)?, JobKind::Rebuild))
}

/// `POST /projections/{name}/verify`.
pub async fn verify(
    State(console): State<Console>,
    Path(name): Path<String>,
    CsrfForm { who, .. }: CsrfForm<Nothing>,
) -> Result<Response, ConsoleError> {
    Ok(start(&console, &who, known(&name)?, JobKind::Verify))
}
