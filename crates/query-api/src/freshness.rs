//! Read-your-writes: `X-Min-Position` (or `?min_position=`) makes a read wait
//! until the projections behind it have applied that position, and every
//! answer says where those projections are in `X-Projection-Position`.

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;

use crate::error::QueryError;

/// The position a reader needs, if any.
#[derive(Debug, Clone, Copy)]
pub struct MinPosition(pub Option<i64>);

impl<S: Send + Sync> FromRequestParts<S> for MinPosition {
    type Rejection = QueryError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, QueryError> {
        let from_header = parts
            .headers
            .get("x-min-position")
            .map(|v| v.to_str().unwrap_or_default().to_owned());
        let from_query = parts.uri.query().and_then(|q| {
            q.split('&')
                .find_map(|kv| kv.strip_prefix("min_position="))
                .map(str::to_owned)
        });
        match from_header.or(from_query) {
            None => Ok(Self(None)),
            Some(raw) => raw
                .trim()
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 0)
                .map(|p| Self(Some(p)))
                .ok_or_else(|| QueryError::bad("min_position", "must be a non-negative integer")),
        }
    }
}

/// The position of the slowest of `projections`.
pub async fn position(pool: &PgPool, projections: &[&str]) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT coalesce(min(position), 0) FROM read_models.projection_positions WHERE name = ANY($1)",
    )
    .bind(projections)
    .fetch_one(pool)
    .await
}

/// Whether every projection in `projections` has applied everything of its
/// categories up to `wanted`: either its position is there, or no event it
/// still lacks lies between its position and `wanted`.
async fn caught_up(pool: &PgPool, projections: &[&str], wanted: i64) -> Result<bool, sqlx::Error> {
    // A position beyond the end of the log has not been reached, whatever
    // the projections have applied.
    sqlx::query_scalar(
        "SELECT $2 <= (SELECT coalesce(max(position), 0) FROM events) AND bool_and(p.position >= $2 OR NOT EXISTS ( \
             SELECT 1 FROM events e \
             WHERE e.position > p.position AND e.position <= $2 \
               AND e.category = ANY(p.categories) \
               AND NOT EXISTS (SELECT 1 FROM processed_events x \
                               WHERE x.consumer = p.name AND x.event_id = e.event_id))) \
         FROM read_models.projection_positions p WHERE p.name = ANY($1)",
    )
    .bind(projections)
    .bind(wanted)
    .fetch_one(pool)
    .await
    .map(|v: Option<bool>| v.unwrap_or(true))
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
    loop {
        if caught_up(pool, projections, wanted).await? {
            return Ok(position(pool, projections).await?.max(wanted));
        }
        if tokio::time::Instant::now() + pause > deadline {
            let at = position(pool, projections).await?;
            return Err(QueryError::NotCaughtUp { wanted, at });
        }
        tokio::time::sleep(pause).await;
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
