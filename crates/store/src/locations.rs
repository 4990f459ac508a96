//! The current state of location streams: one `locations` row each, written
//! in the transaction of its events, and read whole by allocation (a shop
//! has a handful of locations, not thousands).

use domain::location::{Location, Site};
use domain::LocationCode;
use sqlx::{PgConnection, PgExecutor, Row};

use crate::execute::Loaded;
use crate::state::CurrentState;
use crate::StoreError;

impl CurrentState for Location {
    async fn record(
        conn: &mut PgConnection,
        _aggregate_id: &str,
        after: &Loaded<Location>,
    ) -> Result<(), StoreError> {
        let Some(site) = after.state.site() else {
            return Ok(());
        };
        sqlx::query(
            "INSERT INTO locations (code, name, priority, channels, active, version) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (code) DO UPDATE SET name = excluded.name, priority = excluded.priority, \
                 channels = excluded.channels, active = excluded.active, \
                 version = excluded.version, updated_at = now()",
        )
        .bind(site.code.as_str())
        .bind(&site.name)
        .bind(site.priority)
        .bind(&site.channels)
        .bind(site.active)
        .bind(after.version)
        .execute(conn)
        .await?;
        Ok(())
    }
}

const COLUMNS: &str = "code, name, priority, channels, active";

fn site(row: &sqlx::postgres::PgRow) -> Result<Site, StoreError> {
    let code: String = row.try_get("code")?;
    Ok(Site {
        code: LocationCode::parse(&code)
            .map_err(|e| StoreError::InvalidState(format!("location {code:?}: {e}")))?,
        name: row.try_get("name")?,
        priority: row.try_get("priority")?,
        channels: row.try_get("channels")?,
        active: row.try_get("active")?,
    })
}

/// Every location, in priority order, then by code.
pub async fn all<'e>(conn: impl PgExecutor<'e>) -> Result<Vec<Site>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM locations ORDER BY priority, code"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(site)
    .collect()
}

/// Every location, read under a share lock so none is deactivated while the
/// caller's transaction allocates from it.
pub async fn all_for_allocation(conn: &mut PgConnection) -> Result<Vec<Site>, StoreError> {
    sqlx::query(&format!(
        "SELECT {COLUMNS} FROM locations ORDER BY priority, code FOR SHARE"
    ))
    .fetch_all(conn)
    .await?
    .iter()
    .map(site)
    .collect()
}

/// One location, if it exists.
pub async fn find<'e>(
    conn: impl PgExecutor<'e>,
    code: &LocationCode,
) -> Result<Option<Site>, StoreError> {
    sqlx::query(&format!("SELECT {COLUMNS} FROM locations WHERE code = $1"))
        .bind(code.as_str())
        .fetch_optional(conn)
        .await?
        .as_ref()
        .map(site)
        .transpose()
}
