//! The current state of cart holds: one `holds` row each, written in the
//! transaction of its events; the expirer finds the due ones there and the
//! query API answers from it.

use chrono::{DateTime, Utc};
use domain::hold::{Hold, HoldStatus};
use sqlx::types::Json;
use sqlx::{PgConnection, PgExecutor, Row};
use uuid::Uuid;

use crate::execute::Loaded;
use crate::state::CurrentState;
use crate::StoreError;

impl CurrentState for Hold {
    async fn record(
        conn: &mut PgConnection,
        _aggregate_id: &str,
        after: &Loaded<Hold>,
    ) -> Result<(), StoreError> {
        let Some(hold) = after.state.placed() else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO holds (hold_id, channel, status, lines, placed_at, expires_at, order_id, version) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (hold_id) DO UPDATE SET status = excluded.status, lines = excluded.lines, \
                 expires_at = excluded.expires_at, order_id = excluded.order_id, \
                 version = excluded.version, updated_at = now()",
        )
        .bind(hold.hold_id)
        .bind(&hold.channel)
        .bind(hold.status.as_str())
        .bind(Json(&hold.lines))
        .bind(hold.placed_at)
        .bind(hold.expires_at)
        .bind(hold.order_id.map(|o| o.0))
        .bind(after.version)
        .execute(&mut *conn)
        .await?;
        if hold.status == HoldStatus::Active && after.version > 1 {
            // An extension moves the end the SKUs' lapse check reads (a new
            // hold's rows carry its end already); the caller holds the
            // SKUs' locks.
            sqlx::query(
                "UPDATE stock_cart_holds SET expires_at = $2 \
                 WHERE hold_id = $1 AND expires_at <> $2",
            )
            .bind(hold.hold_id)
            .bind(hold.expires_at)
            .execute(conn)
            .await?;
        }
        Ok(())
    }
}

/// Active holds whose end has passed, oldest end first, at most `limit`.
pub async fn due<'e>(conn: impl PgExecutor<'e>, limit: i64) -> Result<Vec<Uuid>, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT hold_id FROM holds WHERE status = 'active' AND expires_at <= now() \
         ORDER BY expires_at LIMIT $1",
    )
    .bind(limit)
    .fetch_all(conn)
    .await?)
}

/// A hold as its row says, for answers.
#[derive(Debug, Clone)]
pub struct HoldRow {
    /// The hold.
    pub hold_id: Uuid,
    /// Its storefront channel.
    pub channel: Option<String>,
    /// How it stands now (an active hold past its end is expired).
    pub status: String,
    /// What it holds, as `[{sku, quantity, location}]`.
    pub lines: serde_json::Value,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// When it ends (or ended).
    pub expires_at: DateTime<Utc>,
    /// The order it became.
    pub order_id: Option<Uuid>,
    /// Its stream's version.
    pub version: i64,
}

/// Active holds not yet past their end, soonest end first, at most `limit`.
pub async fn active<'e>(conn: impl PgExecutor<'e>, limit: i64) -> Result<Vec<HoldRow>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM holds WHERE status = 'active' AND expires_at > now() \
         ORDER BY expires_at LIMIT $1"
    ))
    .bind(limit)
    .fetch_all(conn)
    .await?
    .iter()
    .map(hold_row)
    .collect()
}

/// The columns of [`HoldRow`], its status as of now.
const COLUMNS: &str = "hold_id, channel, \
    CASE WHEN status = 'active' AND expires_at <= now() THEN 'expired' ELSE status END AS status, \
    lines, placed_at, expires_at, order_id, version";

fn hold_row(row: &sqlx::postgres::PgRow) -> Result<HoldRow, StoreError> {
    Ok(HoldRow {
        hold_id: row.try_get("hold_id")?,
        channel: row.try_get("channel")?,
        status: row.try_get("status")?,
        lines: row.try_get("lines")?,
        placed_at: row.try_get("placed_at")?,
        expires_at: row.try_get("expires_at")?,
        order_id: row.try_get("order_id")?,
        version: row.try_get("version")?,
    })
}

/// One hold, if it exists.
pub async fn find<'e>(conn: impl PgExecutor<'e>, id: Uuid) -> Result<Option<HoldRow>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM holds WHERE hold_id = $1"))
        .bind(id)
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(hold_row)
        .transpose()
}

/// The database's clock now (not the transaction's start): hold decisions
/// are made at the time they hold their SKUs' locks.
pub async fn clock(conn: &mut PgConnection) -> Result<DateTime<Utc>, StoreError> {
    Ok(sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(conn)
        .await?)
}
