//! Where each projection is and how far behind the log.

use axum::extract::State;
use axum::Json;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::{PgPool, Row};
use web::openapi::Operation;
use web::SecureRouter;

use crate::error::QueryError;
use crate::freshness::Fresh;
use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>) -> SecureRouter<AppState> {
    router.get(
        "/v1/projections",
        list,
        Operation::new(
            "where each projection, and each webhook endpoint (`webhook:<id>`), is and how \
             far behind the log",
        )
        .answers::<Vec<ProjectionView>>(200, "every projection"),
    )
}

/// One projection's progress.
#[derive(Serialize, JsonSchema)]
pub struct ProjectionView {
    /// The projection's name.
    pub name: String,
    /// The last log position it applied.
    pub position: i64,
    /// Events of its categories it has not applied yet.
    pub lag_events: i64,
    /// Age of the oldest of those.
    pub lag_seconds: f64,
    /// Its parked events.
    pub parked: i64,
    /// `live`, `catching_up` or `rebuilding`; a webhook endpoint whose
    /// last attempt was refused is `failing`.
    pub status: &'static str,
}

#[tracing::instrument(skip_all)]
async fn list(
    State(state): State<AppState>,
) -> Result<Fresh<Json<Vec<ProjectionView>>>, QueryError> {
    let views = projection_status(&state.pool).await?;
    for v in &views {
        metrics::gauge!("stockroom_projection_lag_events", "projection" => v.name.clone())
            .set(v.lag_events as f64);
    }
    let slowest = views.iter().map(|v| v.position).min().unwrap_or(0);
    Ok(Fresh(slowest, Json(views)))
}

/// Every projection's position, lag, parked events and status, then every
/// enabled webhook endpoint's.
pub async fn projection_status(pool: &PgPool) -> Result<Vec<ProjectionView>, QueryError> {
    let rows = sqlx::query(
        "SELECT p.name, p.position, p.rebuilding AND rebuild_running(p.name) AS rebuilding, lag.events, lag.seconds, \
                (SELECT count(*) FROM parked_events k WHERE k.consumer = p.name AND k.retried_at IS NULL) AS parked \
         FROM read_models.projection_positions p, LATERAL ( \
             SELECT count(*) AS events, \
                    coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) AS seconds \
             FROM events e WHERE e.position > p.position AND e.category = ANY(p.categories) \
         ) lag ORDER BY p.name",
    )
    .fetch_all(pool)
    .await?;
    let views = rows
        .iter()
        .map(|r| {
            let lag_events: i64 = r.try_get("events")?;
            let rebuilding: bool = r.try_get("rebuilding")?;
            Ok(ProjectionView {
                name: r.try_get("name")?,
                position: r.try_get("position")?,
                lag_events,
                lag_seconds: r.try_get("seconds")?,
                parked: r.try_get("parked")?,
                status: match (rebuilding, lag_events) {
                    (true, _) => "rebuilding",
                    (false, 0) => "live",
                    (false, _) => "catching_up",
                },
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    let mut views = views;
    let mut conn = pool.acquire().await?;
    for lag in store::webhooks::lags(&mut conn).await? {
        views.push(ProjectionView {
            name: lag.name(),
            position: lag.endpoint.position,
            lag_events: lag.events,
            lag_seconds: lag.seconds,
            parked: 0,
            status: match (lag.endpoint.failing_since, lag.events) {
                (Some(_), _) => "failing",
                (None, 0) => "live",
                (None, _) => "catching_up",
            },
        });
    }
    Ok(views)
}
