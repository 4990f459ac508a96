//! Location commands: register a place that keeps stock, and stop
//! allocating from it.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::location::{Location, LocationCommand};
use domain::LocationCode;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use store::Outcome;
use web::openapi::Operation;
use web::SecureRouter;

use super::simple::Simple;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, Answer};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post(
            "/v1/locations",
            register,
            Operation::new(
                "register a location; lower `priority` ships first (default 100), `channels` \
                 lists the sales channels it may serve (empty: all)",
            )
            .command::<LocationBody>(
                json!({"code": "berlin-1", "name": "Berlin warehouse", "priority": 10,
                       "channels": ["web"]}),
                false,
            )
            .answers::<LocationAnswer>(201, "registered"),
        )
        .post(
            "/v1/locations/{code}/deactivate",
            deactivate,
            Operation::new(
                "stop allocating new orders to a location; its stock stays and can still be \
                 counted, adjusted and shipped",
            )
            .command::<DeactivationBody>(json!({"reason": "closed for renovation"}), false)
            .answers::<LocationAnswer>(200, "deactivated (or already inactive)"),
        )
}

/// A location to register.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct LocationBody {
    /// Its code.
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub code: String,
    /// Its name, for people: not blank, no control characters.
    #[schemars(
        length(min = 1, max = 200),
        regex(
            pattern = r"^[^\u0000-\u001F\u007F-\u009F]*[^\s\u0000-\u001F\u007F-\u009F][^\u0000-\u001F\u007F-\u009F]*$"
        )
    )]
    pub name: String,
    /// Lower ships first.
    #[schemars(range(min = 0, max = 10_000))]
    pub priority: Option<i32>,
    /// Sales channels it may serve; empty or absent: all.
    #[schemars(
        length(max = 64),
        inner(regex(pattern = r"^[^\s\u0000-\u001F\u007F-\u009F]{1,64}$"))
    )]
    pub channels: Option<Vec<String>>,
}

/// Why a location stops taking allocations.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct DeactivationBody {
    /// Why, for the record: not blank.
    #[schemars(
        length(min = 1, max = 500),
        regex(pattern = r"^[^\u0000]*\S[^\u0000]*$")
    )]
    pub reason: String,
}

/// A location after a command.
#[derive(Serialize, JsonSchema)]
pub struct LocationAnswer {
    /// Its code.
    pub code: String,
    /// Its name.
    pub name: Option<String>,
    /// Lower ships first.
    pub priority: Option<i32>,
    /// Sales channels it may serve; empty: all.
    pub channels: Vec<String>,
    /// Whether it takes new allocations.
    pub active: bool,
    /// Log position of the command's last event.
    pub position: i64,
    /// The stream's version.
    pub version: i64,
}

fn answer(status: StatusCode, code: &str, outcome: &Outcome<Location>) -> (StatusCode, Value) {
    let site = outcome.state.site();
    (
        status,
        json!(LocationAnswer {
            code: code.to_owned(),
            name: site.map(|s| s.name.clone()),
            priority: site.map(|s| s.priority),
            channels: site.map(|s| s.channels.clone()).unwrap_or_default(),
            active: site.is_some_and(|s| s.active),
            position: outcome.position,
            version: outcome.version,
        }),
    )
}

fn location_code(field: &str, raw: &str) -> Result<LocationCode, ApiError> {
    let mut fields = Fields::default();
    let code = fields.check(field, LocationCode::parse(raw));
    fields.finish()?;
    Ok(code.expect("fields.finish() fails when a value is missing"))
}

/// The `register` command, as the HTTP route and the console run it.
pub async fn register_location_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    body: &LocationBody,
) -> Result<Answer, ApiError> {
    let code = location_code("code", &body.code)?;
    let channels = body.channels.clone().unwrap_or_default();
    domain::location::check_registration(&body.name, body.priority, &channels)?;
    let command = Simple::<Location> {
        id: code.to_string(),
        command: LocationCommand::Register {
            code,
            name: body.name.clone(),
            priority: body.priority,
            channels,
        },
        respond: |id, outcome| answer(StatusCode::CREATED, id, outcome),
    };
    run(state, headers, fingerprint, command).await
}

async fn register(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<LocationBody>,
) -> Result<Answer, ApiError> {
    register_location_command(&state, &headers, &body.fingerprint, &body.value).await
}

/// The `deactivate` command, as the HTTP route and the console run it.
pub async fn deactivate_location_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    code: &str,
    body: &DeactivationBody,
) -> Result<Answer, ApiError> {
    // A malformed code names no location, as an unknown one.
    let code =
        LocationCode::parse(code).map_err(|_| ApiError::NotFound(format!("location {code}")))?;
    domain::location::check_reason(&body.reason)?;
    let command = Simple::<Location> {
        id: code.to_string(),
        command: LocationCommand::Deactivate {
            code,
            reason: body.reason.clone(),
        },
        respond: |id, outcome| answer(StatusCode::OK, id, outcome),
    };
    run(state, headers, fingerprint, command).await
}

async fn deactivate(
    State(state): State<AppState>,
    Path(code): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<DeactivationBody>,
) -> Result<Answer, ApiError> {
    deactivate_location_command(&state, &headers, &body.fingerprint, &code, &body.value).await
}
