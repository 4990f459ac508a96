//! Refunds: money given back on an order, never more than was paid less
//! what was refunded, optionally tied to one of the order's returns.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use domain::order::{Order, OrderCommand, Refund};
use domain::Currency;
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::{json, Value};
use store::Outcome;
use uuid::Uuid;
use web::openapi::Operation;
use web::SecureRouter;

use super::answers::RefundAnswer;
use super::bounds::{Reason, RefundAmount};
use super::orders::{body_money, on_order_answering};
use crate::error::ApiError;
use crate::extract::{CommandHeaders, JsonBody};
use crate::runner::Answer;
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router.post(
        "/v1/orders/{id}/refunds",
        refund,
        Operation::new(
            "give money back on an order, in its currency: never more than was paid less \
             what was refunded (409); `return_id` ties it to one of the order's returns",
        )
        .command::<RefundBody>(
            json!({"amount": 1250, "currency": "EUR", "reason": "one returned"}),
            false,
        )
        .answers::<RefundAnswer>(200, "refunded, with the new `refund_id`"),
    )
}

/// A refund to give.
#[derive(Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(transform = web::openapi::text_without_nul)]
pub struct RefundBody {
    /// Minor units to give back.
    #[schemars(with = "RefundAmount")]
    pub amount: i64,
    /// Must equal the order's currency.
    #[schemars(with = "Currency")]
    pub currency: String,
    /// Why, for people.
    #[schemars(with = "Reason")]
    pub reason: String,
    /// One of the order's returns, which this refund pays back.
    pub return_id: Option<Uuid>,
}

fn answer(id: &str, outcome: &Outcome<Order>) -> (StatusCode, Value) {
    (StatusCode::OK, json!(RefundAnswer::new(id, outcome)))
}

/// The `refund` command, as the HTTP route and the console run it.
pub async fn refund_command(
    state: &AppState,
    headers: &CommandHeaders,
    fingerprint: &[u8],
    id: &str,
    body: &RefundBody,
) -> Result<Answer, ApiError> {
    let amount = body_money(body.amount, &body.currency)?;
    let command = OrderCommand::Refund(Refund {
        refund_id: Uuid::now_v7(),
        amount,
        reason: body.reason.clone(),
        return_id: body.return_id,
    });
    on_order_answering(state, id, headers, fingerprint, command, answer).await
}

async fn refund(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: CommandHeaders,
    body: JsonBody<RefundBody>,
) -> Result<Answer, ApiError> {
    refund_command(&state, &headers, &body.fingerprint, &id, &body.value).await
}
