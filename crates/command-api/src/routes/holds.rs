//! Cart holds: units set aside while a shopper checks out, all or nothing
//! across lines and locations (allocation decides where, as for orders),
//! changed, extended within their lifetime, released. Each runs in one
//! transaction that locks the hold's SKUs first, then decides on the hold,
//! then holds or releases the units on the stock streams.

use std::collections::BTreeMap;
use std::sync::Mutex;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use chrono::{DateTime, Utc};
use domain::allocation::{allocate, Demand, Request};
use domain::hold::{HeldLine, Hold, HoldCommand, HoldStatus};
use domain::{LocationCode, Sku};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::hold_stock::{self, HoldLock};
use store::{EventMetadata, Outcome};
use uuid::Uuid;
use web::openapi::Operation;
use web::SecureRouter;

use super::lines::{check_count, sku_and_units};
use super::orders::LineBody;
use crate::error::{ApiError, Shortage};
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::hold_settings::HoldSettings;
use crate::runner::{run, Answer, HttpCommand};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    let example = json!({"lines": [{"sku": "TEA-GREEN-100G", "quantity": 2}], "ttl_seconds": 900});
    router
        .post(
            "/v1/holds",
            place,
            Operation::new(
                "hold units for a cart until `expires_at` (default `STOCKROOM_HOLD_TTL`), all \
                 lines or none (409 `insufficient-stock` names each short line); allocation \
                 chooses the locations unless a line names one",
            )
            .command::<HoldBody>(example, true)
            .answers::<HoldAnswer>(201, "held"),
        )
        .put(
            "/v1/holds/{id}",
            change,
            Operation::new("replace the hold's lines, all or nothing; its end stays")
                .command::<HoldChangeBody>(
                    json!({"lines": [{"sku": "TEA-GREEN-100G", "quantity": 3}]}),
                    false,
                )
                .answers::<HoldAnswer>(200, "changed"),
        )
        .post(
            "/v1/holds/{id}/extensions",
            extend,
            Operation::new(
                "make the hold last `ttl_seconds` from now, within its maximum lifetime \
                 (`STOCKROOM_HOLD_MAX_LIFETIME` from placement)",
            )
            .command::<ExtensionBody>(json!({"ttl_seconds": 600}), false)
            .answers::<HoldAnswer>(200, "extended"),
        )
        .post(
            "/v1/holds/{id}/releases",
            release,
            Operation::new("give the held units back; releasing an ended hold changes nothing")
                .command::<ReleaseBody>(json!({}), false)
                .answers::<HoldAnswer>(200, "released"),
        )
}

/// Units to hold for a cart.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldBody {
    /// 1 to 100 lines.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<LineBody>,
    /// Seconds the hold lasts (default `STOCKROOM_HOLD_TTL`).
    #[schemars(range(min = 1, max = 31_536_000))]
    pub ttl_seconds: Option<i64>,
}

/// The new lines of a hold.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct HoldChangeBody {
    /// 1 to 100 lines.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<LineBody>,
}

/// More time for a hold.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ExtensionBody {
    /// Seconds from now.
    #[schemars(range(min = 1, max = 31_536_000))]
    pub ttl_seconds: i64,
}

/// A release, with an optional word why.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct ReleaseBody {
    /// Why, for the record: 0 to 500 characters.
    #[schemars(length(max = 500))]
    pub reason: Option<String>,
}

/// A hold after a command.
#[derive(Serialize, JsonSchema)]
pub struct HoldAnswer {
    /// The hold.
    pub hold_id: Uuid,
    /// `active`, `converted`, `released` or `expired`.
    pub status: HoldStatus,
    /// When it stops (or stopped) holding.
    pub expires_at: DateTime<Utc>,
    /// What it holds where.
    pub lines: Vec<HeldLine>,
    /// Log position of the command's last event (for `X-Min-Position`).
    pub position: i64,
    /// The hold stream's version.
    pub version: i64,
}

/// What a hold request asks.
enum Ask {
    Place {
        lines: Vec<Demand>,
        ttl: chrono::Duration,
    },
    Change {
        lines: Vec<Demand>,
    },
    Extend {
        ttl: chrono::Duration,
    },
    Release {
        reason: Option<String>,
    },
}

/// One hold command, run by [`run`].
struct OnHold {
    hold_id: Uuid,
    channel: Option<String>,
    ask: Ask,
    settings: HoldSettings,
    metadata: EventMetadata,
    /// The locks `prepare` took, for `follow_up`.
    lock: Mutex<Option<HoldLock>>,
}

impl OnHold {
    /// Allocates `lines` over the locations serving the channel, counting
    /// the hold's own units as its to keep; refuses every short line.
    async fn allocate(
        &self,
        conn: &mut PgConnection,
        lock: &HoldLock,
        lines: &[Demand],
    ) -> Result<Vec<HeldLine>, ApiError> {
        let sites = store::locations::all_for_allocation(conn).await?;
        let free = |sku: &Sku, at: &LocationCode| {
            lock.stock.get(sku.as_str()).map_or(0, |(loaded, _)| {
                loaded.state.obtainable(at) + loaded.state.own_units(self.hold_id, at)
            })
        };
        let request = Request {
            lines,
            pickup: None,
            channel: self.channel.as_deref(),
        };
        match allocate(self.settings.allocation, &request, &sites, free) {
            Ok(allocations) => Ok(allocations
                .into_iter()
                .map(|a| HeldLine {
                    sku: a.sku,
                    quantity: a.quantity,
                    location: a.location,
                })
                .collect()),
            Err(first) => {
                // Name every line short over all the locations it may use;
                // the first refusal of allocation stands for the rest (a
                // pin, or units that fit only split in ways pins forbid).
                let mut wanted: BTreeMap<&Sku, i64> = BTreeMap::new();
                for line in lines {
                    *wanted.entry(&line.sku).or_default() += line.quantity.get();
                }
                let mut short: Vec<Shortage> = wanted
                    .into_iter()
                    .filter_map(|(sku, requested)| {
                        let available: i64 = sites
                            .iter()
                            .filter(|s| s.serves(self.channel.as_deref()))
                            .map(|s| free(sku, &s.code).max(0))
                            .sum();
                        (requested > available).then(|| Shortage {
                            sku: sku.to_string(),
                            requested,
                            available,
                        })
                    })
                    .collect();
                if short.is_empty() {
                    short.push(Shortage {
                        sku: first.sku.to_string(),
                        requested: first.requested,
                        available: first.available,
                    });
                }
                Err(ApiError::ShortLines(short))
            }
        }
    }
}

impl HttpCommand for OnHold {
    type Aggregate = Hold;

    fn aggregate_id(&self) -> String {
        self.hold_id.to_string()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<HoldCommand, ApiError> {
        let new_skus: Vec<Sku> = match &self.ask {
            Ask::Place { lines, .. } | Ask::Change { lines } => {
                lines.iter().map(|l| l.sku.clone()).collect()
            }
            Ask::Extend { .. } | Ask::Release { .. } => vec![],
        };
        let lock = hold_stock::lock(conn, self.hold_id, new_skus).await?;
        let now = lock.now;
        let max_lifetime = HoldSettings::chrono(self.settings.max_lifetime);
        let channel = self.channel.clone();
        let command = match &self.ask {
            Ask::Place { lines, ttl } => HoldCommand::Place {
                hold_id: self.hold_id,
                channel,
                lines: self.allocate(conn, &lock, lines).await?,
                now,
                ttl: *ttl,
                max_lifetime,
            },
            Ask::Change { lines } => HoldCommand::Change {
                lines: self.allocate(conn, &lock, lines).await?,
                now,
                channel,
            },
            Ask::Extend { ttl } => HoldCommand::Extend {
                ttl: *ttl,
                now,
                max_lifetime,
                channel,
            },
            Ask::Release { reason } => HoldCommand::Release {
                reason: reason.clone(),
                now,
                channel,
            },
        };
        *self.lock.lock().unwrap_or_else(|e| e.into_inner()) = Some(lock);
        Ok(command)
    }

    fn creates_stream(&self) -> bool {
        matches!(self.ask, Ask::Place { .. })
    }

    async fn follow_up(
        &self,
        conn: &mut PgConnection,
        outcome: &Outcome<Hold>,
    ) -> Result<Option<i64>, ApiError> {
        let lock = self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        let Some(lock) = lock else {
            return Ok(None);
        };
        let reason = hold_stock::release_reason(outcome, lock.now);
        Ok(hold_stock::sync(conn, lock, outcome, reason, &self.metadata).await?)
    }

    fn respond(&self, outcome: &Outcome<Hold>) -> (StatusCode, Value) {
        let status = if matches!(self.ask, Ask::Place { .. }) {
            StatusCode::CREATED
        } else {
            StatusCode::OK
        };
        (status, json!(hold_answer(outcome, Utc::now())))
    }
}

/// The answer for a hold after `outcome`, its status as of `now`.
pub(super) fn hold_answer(outcome: &Outcome<Hold>, now: DateTime<Utc>) -> Option<HoldAnswer> {
    outcome.state.placed().map(|hold| HoldAnswer {
        hold_id: hold.hold_id,
        status: hold.status_at(now),
        expires_at: hold.expires_at,
        lines: hold.lines.clone(),
        position: outcome.position,
        version: outcome.version,
    })
}

/// The lines of a hold request, checked.
fn demands(fields: &mut Fields, lines: &[LineBody]) -> Vec<Demand> {
    check_count(fields, lines);
    lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let units = sku_and_units(fields, i, &line.sku, line.quantity);
            let pin = match line.location.as_deref() {
                None => Some(None),
                Some(raw) => fields
                    .check(&format!("lines[{i}].location"), LocationCode::parse(raw))
                    .map(Some),
            };
            let ((sku, quantity), pin) = units.zip(pin)?;
            Some(Demand { sku, quantity, pin })
        })
        .collect()
}

/// The longest TTL a request may name (a year); the hold's maximum
/// lifetime, a setting, usually bounds it far sooner.
const MAX_TTL_SECONDS: i64 = 31_536_000;

/// A TTL in seconds, as the domain counts time.
fn ttl(
    fields: &mut Fields,
    seconds: Option<i64>,
    default: std::time::Duration,
) -> chrono::Duration {
    match seconds {
        None => HoldSettings::chrono(default),
        Some(s) if (1..=MAX_TTL_SECONDS).contains(&s) => chrono::Duration::seconds(s),
        Some(_) => {
            fields.reject(
                "ttl_seconds",
                format!("must be 1 to {MAX_TTL_SECONDS} seconds"),
            );
            chrono::Duration::zero()
        }
    }
}

/// A hold id taken from the path; one that is not a UUID is a 404.
fn path_hold(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw).map_err(|_| ApiError::NotFound(format!("hold {raw}")))
}

async fn on_hold(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    hold_id: Uuid,
    ask: Ask,
) -> Result<Answer, ApiError> {
    let command = OnHold {
        hold_id,
        // The key's channel: a storefront's holds are its channel's.
        channel: headers.principal.channel.clone(),
        ask,
        settings: state.holds,
        metadata: headers.metadata.clone(),
        lock: Mutex::new(None),
    };
    run(state, headers, fingerprint, command).await
}

/// The `place a hold` command, as the HTTP route and the console run it.
pub async fn place_hold_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    body: &HoldBody,
) -> Result<Answer, ApiError> {
    let mut fields = Fields::default();
    let lines = demands(&mut fields, &body.lines);
    let ttl = ttl(&mut fields, body.ttl_seconds, state.holds.ttl);
    fields.finish()?;
    let ask = Ask::Place { lines, ttl };
    on_hold(state, headers, fingerprint, Uuid::now_v7(), ask).await
}

async fn place(
    State(state): State<AppState>,
    headers: CommandHeaders,
    body: JsonBody<HoldBody>,
) -> Result<Answer, ApiError> {
    place_hold_command(&state, &headers, &body.fingerprint, &body.value).await
}

async fn change(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<HoldChangeBody>,
) -> Result<Answer, ApiError> {
    let hold_id = path_hold(&id)?;
    let mut fields = Fields::default();
    let lines = demands(&mut fields, &body.value.lines);
    fields.finish()?;
    on_hold(
        &state,
        &headers,
        &body.fingerprint,
        hold_id,
        Ask::Change { lines },
    )
    .await
}

async fn extend(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ExtensionBody>,
) -> Result<Answer, ApiError> {
    let hold_id = path_hold(&id)?;
    let mut fields = Fields::default();
    let ttl = ttl(&mut fields, Some(body.value.ttl_seconds), state.holds.ttl);
    fields.finish()?;
    on_hold(
        &state,
        &headers,
        &body.fingerprint,
        hold_id,
        Ask::Extend { ttl },
    )
    .await
}

/// The `release a hold` command, as the HTTP route and the console run it.
pub async fn release_hold_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &ReleaseBody,
) -> Result<Answer, ApiError> {
    let hold_id = path_hold(id)?;
    let ask = Ask::Release {
        reason: body.reason.clone(),
    };
    on_hold(state, headers, fingerprint, hold_id, ask).await
}

async fn release(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReleaseBody>,
) -> Result<Answer, ApiError> {
    release_hold_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}
