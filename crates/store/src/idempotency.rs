//! Idempotency keys: the first request with a key runs; every later one with
//! the same key gets its stored response, or a mismatch if its body differs.

use serde_json::Value;
use sqlx::{PgConnection, Row};

use crate::StoreError;

/// What the store knows about a key, seen from inside the request's
/// transaction (after [`lock`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Claim {
    /// The key is new: run the command, then [`remember`] its response.
    Fresh,
    /// Seen before with the same request: answer this again.
    Replay {
        /// HTTP status of the first response.
        status: u16,
        /// Body of the first response.
        body: Value,
    },
    /// Seen before with a different request.
    Mismatch,
}

/// Serializes requests that share `key` until the caller's transaction ends,
/// then reports what a previous request with that key left behind.
///
/// A transaction-scoped advisory lock (not a row lock) is used so that
/// holding it does not start a write, and concurrent duplicates simply wait
/// and then replay.
///
/// Keys are scoped: `scope` (the API key that sent the request) is part of
/// the identity, in the table and in the lock, so two clients using the same
/// value never wait for or see each other.
#[tracing::instrument(skip(conn, fingerprint))]
pub async fn lock(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    fingerprint: &[u8],
) -> Result<Claim, StoreError> {
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended($1 || chr(31) || $2, 7))")
        .bind(scope)
        .bind(key)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(
        "SELECT fingerprint, status_code, response_body FROM idempotency_keys \
         WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(&mut *conn)
    .await?;
    let Some(row) = row else {
        return Ok(Claim::Fresh);
    };
    let stored: Vec<u8> = row.try_get("fingerprint")?;
    if stored != fingerprint {
        return Ok(Claim::Mismatch);
    }
    let status: i16 = row.try_get("status_code")?;
    Ok(Claim::Replay {
        status: status as u16,
        body: row.try_get("response_body")?,
    })
}

/// Whether a request with `key` has been answered already (its retry will
/// replay that answer), read without the lock: for checks that must not
/// refuse a retry of an accepted request.
pub async fn answered(pool: &sqlx::PgPool, scope: &str, key: &str) -> Result<bool, StoreError> {
    Ok(sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM idempotency_keys WHERE scope = $1 AND key = $2)",
    )
    .bind(scope)
    .bind(key)
    .fetch_one(pool)
    .await?)
}

/// Stores the response of a fresh key, in the transaction of its events.
#[tracing::instrument(skip(conn, fingerprint, body))]
pub async fn remember(
    conn: &mut PgConnection,
    scope: &str,
    key: &str,
    fingerprint: &[u8],
    status: u16,
    body: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO idempotency_keys (scope, key, fingerprint, status_code, response_body) \
         VALUES ($5, $1, $2, $3, $4)",
    )
    .bind(key)
    .bind(fingerprint)
    .bind(status as i16)
    .bind(body)
    .bind(scope)
    .execute(conn)
    .await?;
    Ok(())
}
