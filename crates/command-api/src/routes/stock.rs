//! Stock commands: receipts and adjustments, for registered products only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::product::Product;
use domain::stock::{StockCommand, StockItem};
use domain::{Quantity, Sku};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::Outcome;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::StockAnswer;
use super::bounds::UnitsDelta;
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
            Operation::new("correct the stock count (a stocktake, breakage), with a reason")
                .command::<AdjustmentBody>(
                    json!({"delta": -2, "reason": "damaged in storage"}),
                    false,
                )
                .answers::<StockAnswer>(200, "the SKU's stock after the adjustment"),
        )
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
    #[schemars(length(min = 1))]
    pub reason: String,
}

/// A stock command on a SKU that must be in the catalogue.
struct OnRegisteredSku {
    sku: Sku,
    command: StockCommand,
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
    fields.finish()?;
    let Some(quantity) = quantity else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = StockCommand::Receive {
        sku: sku.clone(),
        quantity,
        reference: body.reference.clone(),
    };
    run(
        state,
        headers,
        fingerprint,
        OnRegisteredSku { sku, command },
    )
    .await
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
    let command = StockCommand::Adjust {
        sku: sku.clone(),
        delta: body.delta,
        reason: body.reason.clone(),
    };
    run(
        state,
        headers,
        fingerprint,
        OnRegisteredSku { sku, command },
    )
    .await
}

async fn adjust(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AdjustmentBody>,
) -> Result<Answer, ApiError> {
    adjust_command(&state, &headers, &body.fingerprint, &sku, &body.value).await
}
