//! What an operator needs to see when the pipeline stalls: how far each
//! follower of the log is behind, which transaction holds the log's horizon
//! back, and what is parked.

use sqlx::{PgConnection, Row};

/// The oldest open transaction that has written something: while it runs,
/// no reader of the log can pass the events committed after it began.
#[derive(Debug, Clone, PartialEq)]
pub struct Blocker {
    /// Its backend's process id (`pg_terminate_backend` takes it).
    pub pid: i32,
    /// Seconds since its transaction began.
    pub age_seconds: f64,
    /// `active`, `idle in transaction`, …
    pub state: String,
    /// The client's `application_name`.
    pub application: String,
    /// The start of its current (or last) statement.
    pub query: String,
}

impl std::fmt::Display for Blocker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "backend {} ({}), open {:.0} s, {}: {}",
            self.pid,
            if self.application.is_empty() {
                "no application name"
            } else {
                &self.application
            },
            self.age_seconds,
            self.state,
            self.query
        )
    }
}

/// Characters of a blocker's statement that are shown.
const QUERY_CHARS: i32 = 120;

/// The oldest writing transaction other than ours, if it has been open for
/// more than `older_than_seconds`.
pub async fn oldest_transaction(
    conn: &mut PgConnection,
    older_than_seconds: f64,
) -> Result<Option<Blocker>, sqlx::Error> {
    let row = sqlx::query(
        "SELECT pid, extract(epoch FROM now() - xact_start)::float8 AS age_seconds, \
                coalesce(state, '') AS state, coalesce(application_name, '') AS application, \
                regexp_replace(left(coalesce(query, ''), $2), '\\s+', ' ', 'g') AS query \
         FROM pg_stat_activity \
         WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() \
           AND now() - xact_start > make_interval(secs => $1) \
         ORDER BY age(backend_xid) DESC LIMIT 1",
    )
    .bind(older_than_seconds)
    .bind(QUERY_CHARS)
    .fetch_optional(conn)
    .await?;
    row.map(|r| {
        Ok(Blocker {
            pid: r.try_get("pid")?,
            age_seconds: r.try_get("age_seconds")?,
            state: r.try_get("state")?,
            application: r.try_get("application")?,
            query: r.try_get("query")?,
        })
    })
    .transpose()
}

/// How far one follower of the log is behind.
#[derive(Debug, Clone, PartialEq)]
pub struct Lag {
    /// The subscription (`relay`, `reserver`, a projection).
    pub name: String,
    /// Every event of its categories at or below this position is handled.
    pub settled: i64,
    /// Events of its categories after that.
    pub events: i64,
    /// Age of the oldest of them (0 when none).
    pub seconds: f64,
}

/// The lag of the relay and of every subscription, by name, then of every
/// enabled webhook endpoint (`webhook:<id>`). A projection's categories
/// come from its published position; the reservation process follows
/// orders; the relay, everything; an endpoint, its event types.
pub async fn lags(conn: &mut PgConnection) -> Result<Vec<Lag>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT s.name, s.settled, lag.events, lag.seconds \
         FROM (SELECT name, settled FROM subscriptions \
               ) s \
         LEFT JOIN read_models.projection_positions p ON p.name = s.name, \
         LATERAL (SELECT count(*) AS events, \
                         coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) AS seconds \
                  FROM events e WHERE e.position > s.settled \
                    AND (s.name = 'relay' \
                         OR e.category = ANY (coalesce(p.categories, ARRAY['order'])))) lag \
         ORDER BY s.name",
    )
    .fetch_all(&mut *conn)
    .await?;
    let mut lags = rows
        .iter()
        .map(|r| {
            Ok(Lag {
                name: r.try_get("name")?,
                settled: r.try_get("settled")?,
                events: r.try_get("events")?,
                seconds: r.try_get("seconds")?,
            })
        })
        .collect::<Result<Vec<_>, sqlx::Error>>()?;
    for endpoint in crate::webhooks::lags(conn).await? {
        lags.push(Lag {
            name: endpoint.name(),
            settled: endpoint.endpoint.position,
            events: endpoint.events,
            seconds: endpoint.seconds,
        });
    }
    Ok(lags)
}

/// Parked events not yet retried, per consumer.
pub async fn parked(conn: &mut PgConnection) -> Result<Vec<(String, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT consumer, count(*) FROM parked_events WHERE retried_at IS NULL \
         GROUP BY consumer ORDER BY consumer",
    )
    .fetch_all(conn)
    .await
}
