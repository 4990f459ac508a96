//! Read-your-writes: `X-Min-Position` (or `?min_position=`) makes a read wait
//! until the projections behind it have applied that position, and every
//! answer says where those projections are in `X-Projection-Position`.

use std::time::Duration;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use sqlx::PgPool;

use crate::error::QueryError;

/// The position a reader needs, if any.
#[derive(Debug, Clone, Copy)]
pub struct MinPosition(pub Option<i64>);

/// `?min_position=` as the query string has it (percent-decoded).
#[derive(Debug, Deserialize)]
struct MinPositionParam {
    min_position: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, QueryError> {
        let invalid = || QueryError::bad("min_position", "must be a non-negative integer");
        let raw = match parts.headers.get("x-min-position") {
            Some(header) => Some(header.to_str().map_err(|_| invalid())?.to_owned()),
            None => {
                Query::<MinPositionParam>::try_from_uri(&parts.uri)
                    .map_err(|_| invalid())?
                    .0
                    .min_position
            }
        };
        match raw {
            None => Ok(Self(None)),
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 0)
                .map(|p| Self(Some(p)))
                .ok_or_else(invalid),
        }
    }
}

/// The position of the slowest of `projections` (0 for one that has not
/// published any yet).
pub async fn position(pool: &PgPool, projections: &[&str]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(min(coalesce(p.position, 0)), 0) \
         FROM unnest($1::text[]) AS n(name) \
         LEFT JOIN read_models.projection_positions p ON p.name = n.name",
    )
    .bind(projections)
    .fetch_one(pool)
    .await
}

/// The last position the log has handed out: no command can have been
/// answered with a higher one.
async fn log_end(pool: &PgPool) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM events_position_seq",
    )
    .fetch_one(pool)
    .await
}

/// Waits (up to `max_wait`) until `projections` reached `min`, and returns
/// their position.
#[tracing::instrument(skip(pool, max_wait))]
pub async fn await_position(
    pool: &PgPool,
    projections: &[&str],
    min: MinPosition,
    max_wait: Duration,
) -> Result<i64, QueryError> {
    let Some(wanted) = min.0 else {
        return Ok(position(pool, projections).await?);
    };
    let deadline = tokio::time::Instant::now() + max_wait;
    let mut pause = Duration::from_millis(2);
    let mut checked_end = false;
    loop {
        // Projection positions are commit-safe: every event at or below one
        // has been applied, so reaching `wanted` is all a reader needs.
        let at = position(pool, projections).await?;
        if at >= wanted {
            return Ok(at);
        }
        if !checked_end {
            let end = log_end(pool).await?;
            if wanted > end {
                return Err(QueryError::bad(
                    "min_position",
                    format!(
                        "position {wanted} has not been handed out yet (the log ends at {end})"
                    ),
                ));
            }
            checked_end = true;
        }
        let now = tokio::time::Instant::now();
        if now >= deadline {
            return Err(QueryError::NotCaughtUp { wanted, at });
        }
        tokio::time::sleep(pause.min(deadline - now)).await;
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// Waits for `min` only if the reader asked; `None` when it did not, so the
/// caller can read the position in its own query (one round trip, not two).
pub async fn await_if_asked(
    pool: &PgPool,
    projections: &[&str],
    min: MinPosition,
    max_wait: Duration,
) -> Result<Option<i64>, QueryError> {
    match min.0 {
        Some(_) => Ok(Some(
            await_position(pool, projections, min, max_wait).await?,
        )),
        None => Ok(None),
    }
}

/// A select-list item giving the slowest position of the projections bound
/// as parameter `$param`, named `projection_position`.
pub fn position_column(param: u8) -> String {
    format!(
        "(SELECT coalesce(min(position), 0) FROM read_models.projection_positions \
          WHERE name = ANY(${param})) AS projection_position"
    )
}

/// An answer stamped with `X-Projection-Position`.
pub struct Fresh<T>(pub i64, pub T);

impl<T: IntoResponse> IntoResponse for Fresh<T> {
    fn into_response(self) -> Response {
        let mut response = self.1.into_response();
        response
            .headers_mut()
            .insert("x-projection-position", HeaderValue::from(self.0));
        response
    }
}
