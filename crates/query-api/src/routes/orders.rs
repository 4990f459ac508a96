//! Orders as customers and frontends see them.

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;
use sqlx::Row;
use uuid::Uuid;

use crate::error::QueryError;
use crate::freshness::{await_position, Fresh, MinPosition};
use crate::AppState;

const PROJECTIONS: &[&str] = &["orders"];

pub(super) fn routes() -> Router<AppState> {
    Router::new().route("/v1/orders/{id}", get(get_order))
}

/// One order.
#[derive(Serialize)]
struct OrderView {
    order_id: Uuid,
    customer_id: Uuid,
    status: String,
    lines: Value,
    total: i64,
    currency: String,
    placed_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
    version: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    rejection: Option<Value>,
}

impl OrderView {
    fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            order_id: row.try_get("order_id")?,
            customer_id: row.try_get("customer_id")?,
            status: row.try_get("status")?,
            lines: row.try_get("lines")?,
            total: row.try_get("total")?,
            currency: row.try_get("currency")?,
            placed_at: row.try_get("placed_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
            rejection: row.try_get("rejection")?,
        })
    }
}

#[tracing::instrument(skip(state, min))]
async fn get_order(
    State(state): State<AppState>,
    min: MinPosition,
    Path(order_id): Path<String>,
) -> Result<Fresh<Json<OrderView>>, QueryError> {
    let position = await_position(&state.pool, PROJECTIONS, min, state.max_wait).await?;
    let id = Uuid::parse_str(&order_id)
        .map_err(|_| QueryError::NotFound(format!("order {order_id}")))?;
    let row = sqlx::query(
        "SELECT order_id, customer_id, status, lines, total, currency, placed_at, updated_at, \
                version, rejection FROM read_models.orders WHERE order_id = $1",
    )
    .bind(id)
    .fetch_optional(&state.pool)
    .await?
    .ok_or_else(|| QueryError::NotFound(format!("order {order_id}")))?;
    Ok(Fresh(position, Json(OrderView::from_row(&row)?)))
}
