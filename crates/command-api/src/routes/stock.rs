//! Stock commands: receipts, adjustments and counts at a location, for
//! registered products and known locations only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::product::Product;
use domain::stock::{ReasonCode, StockCommand, StockItem};
use domain::{LocationCode, Quantity, Sku};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::Outcome;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::StockAnswer;
use super::bounds::{Reason, UnitsDelta};
use super::products::path_sku;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, Answer, HttpCommand};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post(
            "/v1/stock/{sku}/receipts",
            receive,
            Operation::new("receive stock of a registered product")
                .command::<ReceiptBody>(json!({"quantity": 40, "reference": "PO-2026-118"}), false)
                .answers::<StockAnswer>(200, "the SKU's stock after the receipt"),
        )
        .post(
            "/v1/stock/{sku}/adjustments",
            adjust,
            Operation::new(
                "correct on-hand units at a location, with a reason; `expected_on_hand` makes it \
                 a compare-and-set (409 `stale-quantity` with the current value)",
            )
            .command::<AdjustmentBody>(
                json!({"delta": -2, "reason": "damaged in storage", "reason_code": "damaged",
                       "location": "default", "expected_on_hand": 40}),
                false,
            )
            .answers::<StockAnswer>(200, "the SKU's stock after the adjustment"),
        )
        .post(
            "/v1/stock/{sku}/counts",
            count,
            Operation::new(
                "set on-hand units at a location to what a count found (an adjustment with \
                 `reason_code: cycle_count`; nothing is recorded when they already agree)",
            )
            .command::<CountBody>(
                json!({"location": "default", "counted": 38, "reference": "count sheet 12"}),
                false,
            )
            .answers::<StockAnswer>(200, "the SKU's stock after the count"),
        )
}

/// Refuses (422 on `location`) a location that is not registered.
pub(super) async fn registered_location(
    conn: &mut PgConnection,
    location: &LocationCode,
) -> Result<(), ApiError> {
    if store::locations::find(&mut *conn, location)
        .await?
        .is_none()
    {
        return Err(ApiError::Rejected(domain::DomainError::invalid(
            "location",
            format!("no location {location} is registered"),
        )));
    }
    Ok(())
}

/// The location a body names, `default` when it names none; 422 when it
/// names one that is malformed.
pub(super) fn body_location(fields: &mut Fields, raw: Option<&str>) -> Option<LocationCode> {
    match raw {
        None => Some(LocationCode::default_location()),
        Some(raw) => fields.check("location", LocationCode::parse(raw)),
    }
}

/// Units received.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct ReceiptBody {
    /// How many units arrived.
    #[schemars(with = "Quantity")]
    pub quantity: i64,
    /// The delivery's reference, for the record.
    pub reference: Option<String>,
    /// Where the units arrived (default `default`).
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
}

/// A correction of the count.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct AdjustmentBody {
    /// Units to add (positive) or remove (negative); on hand cannot go below reserved.
    #[schemars(with = "UnitsDelta")]
    pub delta: i64,
    /// Why, for the movements history.
    #[schemars(with = "Reason")]
    pub reason: String,
    /// Why, as a code (default `correction`).
    pub reason_code: Option<ReasonCode>,
    /// Where (default `default`).
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
    /// Refuse (409 `stale-quantity`) unless on hand at the location is this.
    #[schemars(range(min = 0))]
    pub expected_on_hand: Option<i64>,
}

/// What a count of one location's shelf found.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct CountBody {
    /// Where the count was made (default `default`).
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
    /// Units counted.
    #[schemars(range(min = 0, max = 1_000_000))]
    pub counted: i64,
    /// The count sheet, for the record.
    pub reference: Option<String>,
}

/// A stock command on a SKU that must be in the catalogue, at a location
/// (the command's own) that must exist.
struct OnRegisteredSku {
    sku: Sku,
    command: StockCommand,
}

/// Runs a receipt, adjustment or count on `sku`.
async fn run_on_sku(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: Sku,
    command: StockCommand,
) -> Result<Answer, ApiError> {
    run(
        state,
        headers,
        fingerprint,
        OnRegisteredSku { sku, command },
    )
    .await
}

impl HttpCommand for OnRegisteredSku {
    type Aggregate = StockItem;

    fn aggregate_id(&self) -> String {
        self.sku.to_string()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<StockCommand, ApiError> {
        let product = store::load::<Product>(conn, self.sku.as_str()).await?;
        if product.state.registered().is_none() {
            return Err(ApiError::NotFound(format!("product {}", self.sku)));
        }
        if let Some(location) = self.command.location() {
            registered_location(conn, location).await?;
        }
        Ok(self.command.clone())
    }

    fn respond(&self, outcome: &Outcome<StockItem>) -> (StatusCode, Value) {
        (
            StatusCode::OK,
            json!(StockAnswer::new(self.sku.as_str(), outcome)),
        )
    }
}

/// The `receive` command, as the HTTP route and the console run it.
pub async fn receive_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: &str,
    body: &ReceiptBody,
) -> Result<Answer, ApiError> {
    let sku = path_sku(sku)?;
    let mut fields = Fields::default();
    let quantity = fields.check("quantity", Quantity::new(body.quantity));
    let location = body_location(&mut fields, body.location.as_deref());
    fields.finish()?;
    let (Some(quantity), Some(location)) = (quantity, location) else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = StockCommand::Receive {
        sku: sku.clone(),
        quantity,
        reference: body.reference.clone(),
        location,
    };
    run_on_sku(state, headers, fingerprint, sku, command).await
}

async fn receive(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReceiptBody>,
) -> Result<Answer, ApiError> {
    receive_command(&state, &headers, &body.fingerprint, &sku, &body.value).await
}

/// The `adjust` command, as the HTTP route and the console run it.
pub async fn adjust_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: &str,
    body: &AdjustmentBody,
) -> Result<Answer, ApiError> {
    let sku = path_sku(sku)?;
    let mut fields = Fields::default();
    let location = body_location(&mut fields, body.location.as_deref());
    fields.finish()?;
    let Some(location) = location else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = StockCommand::Adjust {
        sku: sku.clone(),
        delta: body.delta,
        reason: body.reason.clone(),
        reason_code: body.reason_code.unwrap_or_default(),
        location,
        expected_on_hand: body.expected_on_hand,
    };
    run_on_sku(state, headers, fingerprint, sku, command).await
}

async fn adjust(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AdjustmentBody>,
) -> Result<Answer, ApiError> {
    adjust_command(&state, &headers, &body.fingerprint, &sku, &body.value).await
}

/// The `count` command, as the HTTP route and the console run it.
pub async fn count_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    sku: &str,
    body: &CountBody,
) -> Result<Answer, ApiError> {
    let sku = path_sku(sku)?;
    let mut fields = Fields::default();
    let location = body_location(&mut fields, body.location.as_deref());
    // Checked before any `If-Match`: a malformed count is 422 whatever the
    // stream's version.
    if !(0..=i64::from(domain::Quantity::MAX)).contains(&body.counted) {
        fields.reject(
            "counted",
            format!("must be a whole number from 0 to {}", domain::Quantity::MAX),
        );
    }
    fields.finish()?;
    let Some(location) = location else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = StockCommand::Count {
        sku: sku.clone(),
        location,
        counted: body.counted,
        reference: body.reference.clone(),
    };
    run_on_sku(state, headers, fingerprint, sku, command).await
}

async fn count(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<CountBody>,
) -> Result<Answer, ApiError> {
    count_command(&state, &headers, &body.fingerprint, &sku, &body.value).await
}
