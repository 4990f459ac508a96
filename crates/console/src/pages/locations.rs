//! Locations: the places that keep stock, registering one and taking one
//! out of allocation.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;
use command_api::commands::{
    deactivate_location_command, register_location_command, DeactivationBody, LocationBody,
};
use command_api::runner::Answer;
use domain::location::Site;
use serde::Deserialize;

use super::{acting, after, render, Done};
use crate::error::ConsoleError;
use crate::forms::{given, outcome, FormErrors};
use crate::session::{CsrfForm, SignedIn};
use crate::state::Console;
use crate::view::{may, Layout};

/// What was typed into a location form.
#[derive(Debug, Default, Deserialize)]
pub struct LocationForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    name: String,
    /// Blank: the command's default.
    #[serde(default)]
    priority: String,
    /// Comma-separated; blank: every channel.
    #[serde(default)]
    channels: String,
    #[serde(default)]
    reason: String,
}

/// A location as a row.
struct Row {
    code: String,
    name: String,
    priority: i32,
    channels: String,
    active: bool,
}

impl From<Site> for Row {
    fn from(site: Site) -> Self {
        let channels = if site.channels.is_empty() {
            "all".to_owned()
        } else {
            site.channels.join(", ")
        };
        Self {
            code: site.code.to_string(),
            name: site.name,
            priority: site.priority,
            channels,
            active: site.active,
        }
    }
}

#[derive(Template)]
#[template(path = "locations.html")]
struct LocationsPage {
    layout: Layout,
    rows: Vec<Row>,
    can_write: bool,
    /// The form that failed: `""` for registering, else the location's code.
    failed: Option<String>,
    /// The register form's fields: name, label, what was typed.
    register: [(&'static str, &'static str, String); 4],
    errors: FormErrors,
}

async fn page(
    console: &Console,
    who: &SignedIn,
    notice: Option<String>,
    failed: Option<String>,
    typed: LocationForm,
    errors: FormErrors,
) -> Result<LocationsPage, ConsoleError> {
    // Read on the primary, where they are written with their events: a
    // location just registered is on the list.
    let sites = store::locations::all(&console.pool).await?;
    Ok(LocationsPage {
        layout: Layout::new(who, "/locations", "Locations").notice(notice),
        rows: sites.into_iter().map(Row::from).collect(),
        can_write: may(who, "/locations"),
        failed,
        register: [
            ("code", "Code", typed.code),
            ("name", "Name", typed.name),
            ("priority", "Priority (lower ships first)", typed.priority),
            (
                "channels",
                "Channels (comma-separated; blank: all)",
                typed.channels,
            ),
        ],
        errors,
    })
}

/// `GET /locations`.
pub async fn list(
    State(console): State<Console>,
    Extension(who): Extension<SignedIn>,
    Query(done): Query<Done>,
) -> Result<Response, ConsoleError> {
    // Locations are written with their events: the list already has them.
    let page = page(
        &console,
        &who,
        done.notice(),
        None,
        LocationForm::default(),
        FormErrors::default(),
    )
    .await?;
    render(StatusCode::OK, &page)
}

/// `POST /locations`.
pub async fn register(
    State(console): State<Console>,
    CsrfForm { who, form }: CsrfForm<LocationForm>,
) -> Result<Response, ConsoleError> {
    let mut errors = FormErrors::default();
    let priority = given(&form.priority).and_then(|raw| {
        let n = errors.whole("priority", &raw);
        i32::try_from(n)
            .map_err(|_| errors.add("priority", "is out of range"))
            .ok()
    });
    let result = if errors.is_empty() {
        let channels: Vec<String> = form.channels.split(',').filter_map(given).collect();
        let body = LocationBody {
            code: form.code.trim().to_owned(),
            name: form.name.trim().to_owned(),
            priority,
            channels: (!channels.is_empty()).then_some(channels),
        };
        outcome(register_location_command(&console.commands, &acting(&who), &[], &body).await)?
    } else {
        Err(errors)
    };
    respond(
        &console,
        &who,
        String::new(),
        "location-registered",
        form,
        result,
    )
    .await
}

/// `POST /locations/{code}/deactivate`.
pub async fn deactivate(
    State(console): State<Console>,
    Path(code): Path<String>,
    CsrfForm { who, form }: CsrfForm<LocationForm>,
) -> Result<Response, ConsoleError> {
    let body = DeactivationBody {
        reason: form.reason.trim().to_owned(),
    };
    let result = outcome(
        deactivate_location_command(&console.commands, &acting(&who), &[], &code, &body).await,
    )?;
    respond(&console, &who, code, "location-deactivated", form, result).await
}

async fn respond(
    console: &Console,
    who: &SignedIn,
    failed: String,
    done: &str,
    typed: LocationForm,
    result: Result<Answer, FormErrors>,
) -> Result<Response, ConsoleError> {
    match result {
        Ok(answer) => Ok(after("/locations", done, &answer)),
        Err(errors) => {
            let page = page(console, who, None, Some(failed), typed, errors).await?;
            render(StatusCode::UNPROCESSABLE_ENTITY, &page)
        }
    }
}
