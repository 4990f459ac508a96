//! Webhook endpoints: who gets the feed POSTed, with which types, how far
//! each has accepted it, and its signing secret. The secret must be read
//! back to sign, so it cannot be hashed like a key's: it lives in a table of
//! its own that only the webhooks process (and the owner) may read; the
//! tools write it once and print it once.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgPool, Row};
use uuid::Uuid;

use crate::StoreError;

/// Bytes of randomness in a signing secret.
const SECRET_BYTES: usize = 32;
/// How a signing secret starts, so it is recognised when it leaks.
const SECRET_PREFIX: &str = "whsec_";

/// One endpoint, without its secret.
#[derive(Debug, Clone, PartialEq)]
pub struct Endpoint {
    /// Its id.
    pub id: Uuid,
    /// Where batches are POSTed.
    pub url: String,
    /// Only these event types (all when empty).
    pub types: Vec<String>,
    /// Every event of its types up to this position was accepted.
    pub position: i64,
    /// When it was made.
    pub created_at: DateTime<Utc>,
    /// Who made it.
    pub created_by: String,
    /// When it was disabled, if it was.
    pub disabled_at: Option<DateTime<Utc>>,
    /// When it last accepted a batch.
    pub delivered_at: Option<DateTime<Utc>>,
    /// Since when its next batch has been refused, if it has.
    pub failing_since: Option<DateTime<Utc>>,
    /// Attempts of that batch so far.
    pub attempts: i32,
    /// Why the last attempt failed.
    pub last_error: Option<String>,
}

const COLUMNS: &str = "id, url, types, position, created_at, created_by, disabled_at, \
                       delivered_at, failing_since, attempts, last_error";

fn from_row(row: &sqlx::postgres::PgRow) -> Result<Endpoint, sqlx::Error> {
    Ok(Endpoint {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        types: row.try_get("types")?,
        position: row.try_get("position")?,
        created_at: row.try_get("created_at")?,
        created_by: row.try_get("created_by")?,
        disabled_at: row.try_get("disabled_at")?,
        delivered_at: row.try_get("delivered_at")?,
        failing_since: row.try_get("failing_since")?,
        attempts: row.try_get("attempts")?,
        last_error: row.try_get("last_error")?,
    })
}

/// Where a new endpoint starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// With the first event of the log.
    Beginning,
    /// After the last position handed out so far.
    Now,
}

/// Makes an endpoint and its secret, in one transaction; returns it with
/// the secret, which is never shown again.
pub async fn create(
    pool: &PgPool,
    url: &str,
    types: &[String],
    start: Start,
    actor: &str,
) -> Result<(Endpoint, String), StoreError> {
    let mut secret = [0u8; SECRET_BYTES];
    getrandom::fill(&mut secret).map_err(|e| StoreError::Randomness(e.to_string()))?;
    let secret: String = std::iter::once(SECRET_PREFIX.to_owned())
        .chain(secret.iter().map(|b| format!("{b:02x}")))
        .collect();
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let position: i64 = match start {
        Start::Beginning => 0,
        Start::Now => {
            sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
                .fetch_one(&mut *tx)
                .await?
        }
    };
    let row = sqlx::query(&format!(
        "INSERT INTO webhook_endpoints (id, url, types, position, created_by) \
         VALUES ($1, $2, $3, $4, $5) RETURNING {COLUMNS}"
    ))
    .bind(id)
    .bind(url)
    .bind(types)
    .bind(position)
    .bind(actor)
    .fetch_one(&mut *tx)
    .await?;
    sqlx::query("INSERT INTO webhook_secrets (endpoint_id, secret) VALUES ($1, $2)")
        .bind(id)
        .bind(&secret)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok((from_row(&row)?, secret))
}

/// Every endpoint, oldest first.
pub async fn list(pool: &PgPool) -> Result<Vec<Endpoint>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS} FROM webhook_endpoints ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    Ok(rows.iter().map(from_row).collect::<Result<_, _>>()?)
}

/// The endpoints to deliver to, with their secrets (the webhooks process).
pub async fn enabled_with_secrets(pool: &PgPool) -> Result<Vec<(Endpoint, String)>, StoreError> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, s.secret FROM webhook_endpoints \
         JOIN webhook_secrets s ON s.endpoint_id = id \
         WHERE disabled_at IS NULL ORDER BY created_at, id"
    ))
    .fetch_all(pool)
    .await?;
    rows.iter()
        .map(|r| Ok((from_row(r)?, r.try_get("secret")?)))
        .collect::<Result<_, sqlx::Error>>()
        .map_err(StoreError::from)
}

/// Stops deliveries to `id`; false when there is no such enabled endpoint.
pub async fn disable(pool: &PgPool, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query(
        "UPDATE webhook_endpoints SET disabled_at = now() WHERE id = $1 AND disabled_at IS NULL",
    )
    .bind(id)
    .execute(pool)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Deletes `id` with its secret; false when there is no such endpoint.
pub async fn delete(pool: &PgPool, id: Uuid) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM webhook_endpoints WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records that `id` accepted everything up to `position` (or that nothing
/// of its types lies before it); clears its failure.
pub async fn delivered(
    pool: &PgPool,
    id: Uuid,
    position: i64,
    sent_something: bool,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_endpoints SET position = greatest(position, $2), \
                delivered_at = CASE WHEN $3 THEN now() ELSE delivered_at END, \
                failing_since = NULL, attempts = 0, last_error = NULL \
         WHERE id = $1",
    )
    .bind(id)
    .bind(position)
    .bind(sent_something)
    .execute(pool)
    .await?;
    Ok(())
}

/// Records a failed attempt at `id`'s next batch.
pub async fn failed(pool: &PgPool, id: Uuid, error: &str) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE webhook_endpoints SET failing_since = coalesce(failing_since, now()), \
                attempts = attempts + 1, last_error = left($2, 500) \
         WHERE id = $1",
    )
    .bind(id)
    .bind(error)
    .execute(pool)
    .await?;
    Ok(())
}

/// How far behind the log one endpoint is.
#[derive(Debug, Clone, PartialEq)]
pub struct EndpointLag {
    /// The endpoint.
    pub endpoint: Endpoint,
    /// Events of its types after its position.
    pub events: i64,
    /// Age of the oldest of those, in seconds.
    pub seconds: f64,
}

impl EndpointLag {
    /// The name it has beside the projections: `webhook:<id>`.
    pub fn name(&self) -> String {
        format!("webhook:{}", self.endpoint.id)
    }
}

/// Every enabled endpoint's lag.
pub async fn lags(conn: &mut PgConnection) -> Result<Vec<EndpointLag>, sqlx::Error> {
    let rows = sqlx::query(&format!(
        "SELECT {COLUMNS}, lag.events, lag.seconds FROM webhook_endpoints w, LATERAL ( \
             SELECT count(*) AS events, \
                    coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) AS seconds \
             FROM events e WHERE e.position > w.position \
               AND (cardinality(w.types) = 0 OR e.event_type = ANY (w.types))) lag \
         WHERE w.disabled_at IS NULL ORDER BY w.created_at, w.id"
    ))
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(EndpointLag {
                endpoint: from_row(r)?,
                events: r.try_get("events")?,
                seconds: r.try_get("seconds")?,
            })
        })
        .collect()
}
