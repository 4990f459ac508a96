//! Returns as the orders projection has them: what was requested, what
//! arrived in each receipt and what became of it, and the status that
//! follows.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use domain::order::{Disposition, ReceivedLine, ReturnLine, ReturnStatus};
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::{PgPool, Row};
use uuid::Uuid;
use web::auth::Principal;
use web::openapi::Operation;
use web::SecureRouter;

use super::orders::return_status_sql;
use crate::error::QueryError;
use crate::freshness::{await_if_asked, position_column, Fresh, MinPosition};
use crate::AppState;

const PROJECTIONS: &[&str] = &["orders"];

/// One return with the projection's position; another channel's return (by
/// its order) is not found, as a missing one.
static RETURN_WITH_POSITION: LazyLock<String> = LazyLock::new(|| {
    format!(
        "SELECT r.return_id, r.order_id, r.lines, r.requested_at, \
                {status} AS status, \
                coalesce((SELECT jsonb_agg(jsonb_build_object( \
                              'receipt_id', c.receipt_id, 'location', c.location, \
                              'lines', c.lines, 'received_at', c.received_at) \
                              ORDER BY c.received_at, c.receipt_id) \
                          FROM read_models.return_receipts c WHERE c.return_id = r.return_id), \
                         '[]') AS receipts, \
                {position} \
         FROM read_models.order_returns r \
         LEFT JOIN read_models.orders o ON o.order_id = r.order_id \
         WHERE r.return_id = $1 AND ($3::text IS NULL OR o.channel = $3)",
        status = return_status_sql!(),
        position = position_column(2),
    )
});

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router.get(
        "/v1/returns/{id}",
        get_return,
        Operation::new("one return: what was requested, what arrived and what became of it")
            .read(&[])
            .answers::<ReturnView>(200, "the return"),
    )
}

/// One return of an order.
#[derive(Serialize, JsonSchema)]
pub struct ReturnView {
    /// The return's id.
    pub return_id: Uuid,
    /// The order it sends units of back.
    pub order_id: Uuid,
    /// `requested`, `partially_received` or `received`.
    pub status: ReturnStatus,
    /// Per SKU: units requested, and of those received, what became of them.
    pub lines: Vec<ReturnLineView>,
    /// Every receipt, oldest first.
    pub receipts: Vec<ReceiptView>,
    /// When it was requested.
    pub requested_at: DateTime<Utc>,
}

/// One SKU of a return.
#[derive(Serialize, JsonSchema, Default)]
pub struct ReturnLineView {
    /// The SKU.
    pub sku: String,
    /// Units requested.
    pub quantity: i64,
    /// Why, as each requested line said.
    pub reasons: Vec<String>,
    /// Units received so far, whatever their disposition.
    pub received: i64,
    /// Of those, back on hand.
    pub restocked: i64,
    /// Of those, unsellable.
    pub damaged: i64,
    /// Of those, not in the parcel.
    pub missing: i64,
}

/// One receipt of a return.
#[derive(Serialize, JsonSchema, serde::Deserialize)]
pub struct ReceiptView {
    /// The receipt's id.
    pub receipt_id: Uuid,
    /// Where the units arrived.
    pub location: String,
    /// What arrived and what became of it.
    pub lines: Vec<ReceivedLine>,
    /// When it was recorded.
    pub received_at: DateTime<Utc>,
}

impl ReturnView {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, QueryError> {
        let requested: Vec<ReturnLine> = decode(row, "lines")?;
        let receipts: Vec<ReceiptView> = decode(row, "receipts")?;
        let status: String = row.try_get("status")?;
        let mut lines: BTreeMap<String, ReturnLineView> = BTreeMap::new();
        for line in &requested {
            let view = lines.entry(line.sku.to_string()).or_default();
            view.quantity += line.quantity.get();
            view.reasons.push(line.reason.clone());
        }
        for line in receipts.iter().flat_map(|r| &r.lines) {
            let view = lines.entry(line.sku.to_string()).or_default();
            let units = line.quantity.get();
            view.received += units;
            match line.disposition {
                Disposition::Restock => view.restocked += units,
                Disposition::Damaged => view.damaged += units,
                Disposition::Missing => view.missing += units,
            }
        }
        Ok(Self {
            return_id: row.try_get("return_id")?,
            order_id: row.try_get("order_id")?,
            status: match status.as_str() {
                "received" => ReturnStatus::Received,
                "partially_received" => ReturnStatus::PartiallyReceived,
                _ => ReturnStatus::Requested,
            },
            lines: lines
                .into_iter()
                .map(|(sku, view)| ReturnLineView { sku, ..view })
                .collect(),
            receipts,
            requested_at: row.try_get("requested_at")?,
        })
    }
}

/// A JSON column as `T`; a row the projection wrote always decodes.
fn decode<T: serde::de::DeserializeOwned>(
    row: &sqlx::postgres::PgRow,
    column: &str,
) -> Result<T, QueryError> {
    let value: serde_json::Value = row.try_get(column)?;
    serde_json::from_value(value)
        .map_err(|e| QueryError::Database(sqlx::Error::Decode(Box::new(e))))
}

#[tracing::instrument(skip(state, min))]
async fn get_return(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    min: MinPosition,
    Path(return_id): Path<String>,
) -> Result<Fresh<Json<ReturnView>>, QueryError> {
    let waited = await_if_asked(&state.freshness, PROJECTIONS, min).await?;
    let id = Uuid::parse_str(&return_id)
        .map_err(|_| QueryError::NotFound(format!("return {return_id}")))?;
    let (position, view) = find_return(&state.pool, id, principal.channel.as_deref())
        .await?
        .ok_or_else(|| QueryError::NotFound(format!("return {return_id}")))?;
    Ok(Fresh(position.max(waited.unwrap_or(0)), Json(view)))
}

/// One return and the orders projection's position, if it exists (and, for
/// `channel`, belongs to an order placed through it).
pub async fn find_return(
    pool: &PgPool,
    id: Uuid,
    channel: Option<&str>,
) -> Result<Option<(i64, ReturnView)>, QueryError> {
    let row = sqlx::query(&RETURN_WITH_POSITION)
        .bind(id)
        .bind(PROJECTIONS)
        .bind(channel)
        .fetch_optional(pool)
        .await?;
    let Some(row) = row else { return Ok(None) };
    let position: i64 = row.try_get("projection_position")?;
    Ok(Some((position, ReturnView::from_row(&row)?)))
}
