//! Returns: shipped units a customer sends back, and the receipts that
//! record them arriving, each unit with a disposition. Restocked units go on
//! hand at the receiving location through the stock aggregate, as a
//! `StockReceived` with the reference `return:{return_id}`, appended in the
//! receipt's own transaction: the Kafka formula "on hand = received +
//! adjusted − committed" holds unchanged.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::order::{
    Disposition, Order, OrderCommand, OrderEvent, Receipt, ReceivedLine, ReturnLine,
};
use domain::stock::{StockCommand, StockItem};
use domain::{Quantity, Sku};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use sqlx::PgConnection;
use store::{EventMetadata, Outcome};
use uuid::Uuid;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::ReturnAnswer;
use super::bounds::Reason;
use super::lines::{check_count, sku_and_units};
use super::orders::on_order_answering;
use super::stock::{body_location, registered_location};
use crate::error::ApiError;
use crate::extract::{CommandHeaders, Fields, JsonBody};
use crate::runner::{run, Answer, HttpCommand};
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router
        .post(
            "/v1/orders/{id}/returns",
            request,
            Operation::new(
                "ask to send shipped units back: per SKU, no more than shipped less what \
                 earlier returns asked for (409)",
            )
            .command::<ReturnBody>(
                json!({"lines": [{"sku": "TEA-GREEN-100G", "quantity": 1, "reason": "too small"}]}),
                false,
            )
            .answers::<ReturnAnswer>(201, "requested, with the new `return_id`"),
        )
        .post(
            "/v1/returns/{id}/receipts",
            receive,
            Operation::new(
                "record units of a return that arrived at `location` (default `default`), each \
                 with a disposition: `restock` puts them on hand there, `damaged` and \
                 `missing` are recorded only; per SKU, no more than the return still expects \
                 (409)",
            )
            .command::<ReceiptBody>(
                json!({"location": "default",
                       "lines": [{"sku": "TEA-GREEN-100G", "quantity": 1, "disposition": "restock"}]}),
                false,
            )
            .answers::<ReturnAnswer>(200, "recorded, with the new `receipt_id`"),
        )
}

/// Shipped units to send back.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnBody {
    /// 1 to 100 lines.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<ReturnLineBody>,
}

/// Units of one SKU to send back.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReturnLineBody {
    /// A SKU the order shipped.
    #[schemars(with = "Sku")]
    pub sku: String,
    /// Units.
    #[schemars(with = "Quantity")]
    pub quantity: i64,
    /// Why, for people.
    #[schemars(with = "Reason")]
    pub reason: String,
}

/// Units of a return that arrived.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptBody {
    /// Where they arrived (default `default`).
    #[schemars(regex(pattern = r"^[a-z0-9-]{1,32}$"))]
    pub location: Option<String>,
    /// 1 to 100 lines.
    #[schemars(length(min = 1, max = 100))]
    pub lines: Vec<ReceiptLineBody>,
}

/// Units of one SKU that arrived, and what becomes of them.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ReceiptLineBody {
    /// A SKU of the return.
    #[schemars(with = "Sku")]
    pub sku: String,
    /// Units.
    #[schemars(with = "Quantity")]
    pub quantity: i64,
    /// `restock`, `damaged` or `missing`.
    pub disposition: Disposition,
}

fn requested(id: &str, outcome: &Outcome<Order>) -> (StatusCode, Value) {
    (StatusCode::CREATED, json!(ReturnAnswer::new(id, outcome)))
}

/// The `request a return` command, as the HTTP route and the console run it.
/// A storefront asks only for its own channel's orders.
pub async fn request_return_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &ReturnBody,
) -> Result<Answer, ApiError> {
    let mut fields = Fields::default();
    check_count(&mut fields, &body.lines);
    let lines: Vec<ReturnLine> = body
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let (sku, quantity) = sku_and_units(&mut fields, i, &line.sku, line.quantity)?;
            Some(ReturnLine {
                sku,
                quantity,
                reason: line.reason.clone(),
            })
        })
        .collect();
    fields.finish()?;
    let command = OrderCommand::RequestReturn {
        return_id: Uuid::now_v7(),
        lines,
    };
    on_order_answering(state, id, headers, fingerprint, command, requested).await
}

async fn request(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReturnBody>,
) -> Result<Answer, ApiError> {
    request_return_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}

/// A receipt of a return's units on its order, restocking what is to be
/// restocked in the same transaction.
struct ReturnReceipt {
    order_id: String,
    receipt: Receipt,
    metadata: EventMetadata,
}

impl HttpCommand for ReturnReceipt {
    type Aggregate = Order;

    fn aggregate_id(&self) -> String {
        self.order_id.clone()
    }

    async fn prepare(&self, conn: &mut PgConnection) -> Result<OrderCommand, ApiError> {
        registered_location(conn, &self.receipt.location).await?;
        Ok(OrderCommand::ReceiveReturn(self.receipt.clone()))
    }

    async fn follow_up(
        &self,
        conn: &mut PgConnection,
        outcome: &Outcome<Order>,
    ) -> Result<Option<i64>, ApiError> {
        let mut restock: BTreeMap<&Sku, i64> = BTreeMap::new();
        for event in &outcome.events {
            if let OrderEvent::ReturnReceived { lines, .. } = event {
                for line in lines
                    .iter()
                    .filter(|l| l.disposition == Disposition::Restock)
                {
                    *restock.entry(&line.sku).or_default() += line.quantity.get();
                }
            }
        }
        let mut last = None;
        // SKU order, as every other writer of several stock streams locks them.
        for (sku, units) in restock {
            let quantity = Quantity::new(units)
                .map_err(|e| ApiError::Rejected(domain::DomainError::from_value("lines", e)))?;
            let command = StockCommand::Receive {
                sku: sku.clone(),
                quantity,
                reference: Some(format!("return:{}", self.receipt.return_id)),
                location: self.receipt.location.clone(),
            };
            let stocked =
                store::execute_in::<StockItem>(conn, sku.as_str(), None, command, &self.metadata)
                    .await?;
            last = Some(stocked.position);
        }
        Ok(last)
    }

    fn respond(&self, outcome: &Outcome<Order>) -> (StatusCode, Value) {
        (
            StatusCode::OK,
            json!(ReturnAnswer::new(&self.order_id, outcome)),
        )
    }
}

/// The `record a return receipt` command, as the HTTP route and the console
/// run it.
pub async fn receive_return_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &ReceiptBody,
) -> Result<Answer, ApiError> {
    let return_id = Uuid::parse_str(id).map_err(|_| ApiError::NotFound(format!("return {id}")))?;
    let mut fields = Fields::default();
    check_count(&mut fields, &body.lines);
    let location = body_location(&mut fields, body.location.as_deref());
    let lines: Vec<ReceivedLine> = body
        .lines
        .iter()
        .enumerate()
        .filter_map(|(i, line)| {
            let (sku, quantity) = sku_and_units(&mut fields, i, &line.sku, line.quantity)?;
            Some(ReceivedLine {
                sku,
                quantity,
                disposition: line.disposition,
            })
        })
        .collect();
    fields.finish()?;
    let Some(location) = location else {
        unreachable!("fields.finish() fails when a value is missing")
    };
    let mut conn = state.pool.acquire().await?;
    let order_id = store::returns::order_of(&mut conn, return_id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("return {id}")))?;
    drop(conn);
    let receipt = ReturnReceipt {
        order_id: order_id.to_string(),
        receipt: Receipt {
            return_id,
            receipt_id: Uuid::now_v7(),
            location,
            lines,
        },
        metadata: headers.metadata.clone(),
    };
    run(state, headers, fingerprint, receipt).await
}

async fn receive(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<ReceiptBody>,
) -> Result<Answer, ApiError> {
    receive_return_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}
