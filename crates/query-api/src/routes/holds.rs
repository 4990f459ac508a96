//! Cart holds, from their current-state rows (written in the transaction of
//! the hold's events, so a hold is readable the moment its command answers).
//! An active hold past its end reads as expired: from `expires_at` on it
//! holds nothing, whether or not its expiry is written yet.

use axum::extract::{Path, State};
use axum::{Extension, Json};
use chrono::{DateTime, Utc};
use domain::hold::HeldLine;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;
use web::auth::Principal;
use web::openapi::Operation;
use web::SecureRouter;

use crate::error::QueryError;
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router.get(
        "/v1/holds/{id}",
        get_hold,
        Operation::new(
            "one cart hold: what it holds where, until when, and how it stands (`active`, \
             `converted`, `released` or `expired`)",
        )
        .read(&[])
        .answers::<HoldView>(200, "the hold"),
    )
}

/// One cart hold.
#[derive(Serialize, JsonSchema)]
pub struct HoldView {
    /// The hold.
    pub hold_id: Uuid,
    /// `active`, `converted`, `released` or `expired`.
    pub status: String,
    /// When it stops (or stopped) holding.
    pub expires_at: DateTime<Utc>,
    /// What it holds (or held) where.
    pub lines: Vec<HeldLine>,
    /// The order it became.
    pub order_id: Option<Uuid>,
    /// When it was placed.
    pub placed_at: DateTime<Utc>,
    /// The storefront channel it belongs to.
    pub channel: Option<String>,
    /// The hold stream's version.
    pub version: i64,
}

/// One hold, if it exists and (for `channel`) is that channel's.
pub async fn find_hold(
    pool: &PgPool,
    id: Uuid,
    channel: Option<&str>,
) -> Result<Option<HoldView>, QueryError> {
    let Some(row) = store::holds::find(pool, id).await? else {
        return Ok(None);
    };
    if channel.is_some() && row.channel.as_deref() != channel {
        return Ok(None);
    }
    let lines: Vec<HeldLine> = serde_json::from_value(row.lines)
        .map_err(|e| QueryError::Database(sqlx::Error::Decode(Box::new(e))))?;
    Ok(Some(HoldView {
        hold_id: row.hold_id,
        status: row.status,
        expires_at: row.expires_at,
        lines,
        order_id: row.order_id,
        placed_at: row.placed_at,
        channel: row.channel,
        version: row.version,
    }))
}

#[tracing::instrument(skip(state))]
async fn get_hold(
    State(state): State<AppState>,
    Extension(principal): Extension<Principal>,
    Path(hold_id): Path<String>,
) -> Result<Json<HoldView>, QueryError> {
    let missing = || QueryError::NotFound(format!("hold {hold_id}"));
    let id = Uuid::parse_str(&hold_id).map_err(|_| missing())?;
    find_hold(&state.pool, id, principal.channel.as_deref())
        .await?
        .map(Json)
        .ok_or_else(missing)
}
