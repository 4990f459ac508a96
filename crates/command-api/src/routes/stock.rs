//! Stock commands: receipts and adjustments, for registered products only.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use domain::product::Product;
use domain::stock::{StockCommand, StockItem};
use domain::{Quantity, Sku};
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::Outcome;
use web::SecureRouter;

use super::products::path_sku;
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, HttpCommand};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post("/v1/stock/{sku}/receipts", receive)
        .post("/v1/stock/{sku}/adjustments", adjust)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ReceiptBody {
    quantity: i64,
    reference: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AdjustmentBody {
    delta: i64,
    reason: String,
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
        let stock = &outcome.state;
        (
            StatusCode::OK,
            json!({
                "sku": self.sku,
                "on_hand": stock.on_hand(),
                "reserved": stock.reserved(),
                "available": stock.available(),
                "position": outcome.position,
                "version": outcome.version,
            }),
        )
    }
}

async fn receive(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReceiptBody>,
) -> Result<Response, ApiError> {
    let sku = path_sku(&sku)?;
    let mut fields = Fields::default();
    let quantity = fields.check("quantity", Quantity::new(body.value.quantity));
    fields.finish()?;
    let Some(quantity) = quantity else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let command = StockCommand::Receive {
        sku: sku.clone(),
        quantity,
        reference: body.value.reference.clone(),
    };
    run(
        &state,
        &headers,
        &body.fingerprint,
        OnRegisteredSku { sku, command },
    )
    .await
}

async fn adjust(
    State(state): State<AppState>,
    Path(sku): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<AdjustmentBody>,
) -> Result<Response, ApiError> {
    let sku = path_sku(&sku)?;
    let command = StockCommand::Adjust {
        sku: sku.clone(),
        delta: body.value.delta,
        reason: body.value.reason.clone(),
    };
    run(
        &state,
        &headers,
        &body.fingerprint,
        OnRegisteredSku { sku, command },
    )
    .await
}
