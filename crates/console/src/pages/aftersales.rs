//! An order's after-sales forms: a refund, and the receipt of a return's
//! units with what becomes of them.

use axum::extract::{Path, State};
use axum::response::Response;
use command_api::commands::{
    receive_return_command, refund_command, RefundBody, ReturnReceiptBody, ReturnReceiptLineBody,
};
use domain::order::Disposition;
use serde::Deserialize;

use super::orders::{order_id, respond, OrderForms};
use crate::error::ConsoleError;
use crate::forms::{given, outcome, FormErrors};
use crate::session::CsrfForm;
use crate::state::Console;

use super::acting;

/// What was typed into the refund and return-receipt forms.
#[derive(Debug, Default, Deserialize)]
pub struct AfterSalesForms {
    /// Minor units to refund.
    #[serde(default)]
    pub(super) refund_amount: String,
    /// Why the refund.
    #[serde(default)]
    pub(super) refund_reason: String,
    /// The return a receipt is of.
    #[serde(default)]
    pub(super) return_id: String,
    /// Where the returned units arrived (blank: `default`).
    #[serde(default)]
    pub(super) return_location: String,
    /// The SKU that arrived.
    #[serde(default)]
    pub(super) return_sku: String,
    /// Units that arrived.
    #[serde(default)]
    pub(super) return_quantity: String,
    /// `restock`, `damaged` or `missing`.
    #[serde(default)]
    pub(super) disposition: String,
}

/// Every disposition as the form offers it.
pub const DISPOSITIONS: [&str; 3] = ["restock", "damaged", "missing"];

fn disposition(raw: &str) -> Option<Disposition> {
    match raw {
        "restock" => Some(Disposition::Restock),
        "damaged" => Some(Disposition::Damaged),
        "missing" => Some(Disposition::Missing),
        _ => None,
    }
}

/// `POST /orders/{id}/refund`: gives money back in the order's currency.
pub async fn refund(
    State(console): State<Console>,
    Path(id): Path<String>,
    CsrfForm { who, form }: CsrfForm<OrderForms>,
) -> Result<Response, ConsoleError> {
    let id = order_id(&id)?;
    let mut errors = FormErrors::default();
    let typed = &form.after_sales;
    let amount = errors.whole("refund_amount", &typed.refund_amount);
    if !errors.is_empty() {
        return respond(&console, &who, id, "refunded", form, Err(errors)).await;
    }
    let currency = query_api::reads::find_order(&console.reads, id)
        .await?
        .map(|o| o.currency)
        .unwrap_or_default();
    let body = RefundBody {
        amount,
        currency,
        reason: typed.refund_reason.trim().to_owned(),
        return_id: None,
    };
    let result = refund_command(
        &console.commands,
        &acting(&who),
        &[],
        &id.to_string(),
        &body,
    )
    .await;
    respond(&console, &who, id, "refunded", form, outcome(result)?).await
}

/// `POST /orders/{id}/return-receipt`: units of one of the order's returns
/// arrived, with a disposition.
pub async fn receive(
    State(console): State<Console>,
    Path(id): Path<String>,
    CsrfForm { who, form }: CsrfForm<OrderForms>,
) -> Result<Response, ConsoleError> {
    let id = order_id(&id)?;
    let mut errors = FormErrors::default();
    let typed = &form.after_sales;
    let quantity = errors.whole("return_quantity", &typed.return_quantity);
    let Some(disposition) = disposition(&typed.disposition) else {
        errors.add("disposition", "choose restock, damaged or missing");
        return respond(&console, &who, id, "received", form, Err(errors)).await;
    };
    if !errors.is_empty() {
        return respond(&console, &who, id, "received", form, Err(errors)).await;
    }
    let body = ReturnReceiptBody {
        location: given(&typed.return_location),
        lines: vec![ReturnReceiptLineBody {
            sku: typed.return_sku.trim().to_owned(),
            quantity,
            disposition,
        }],
    };
    let return_id = typed.return_id.trim().to_owned();
    let result =
        receive_return_command(&console.commands, &acting(&who), &[], &return_id, &body).await;
    respond(&console, &who, id, "received", form, outcome(result)?).await
}
