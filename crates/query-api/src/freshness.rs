//! Read-your-writes: `X-Min-Position` (or `?min_position=`) makes a read wait
//! until the projections behind it have applied that position, and every
//! answer says where those projections are in `X-Projection-Position`.

use std::time::Duration;

use axum::extract::{FromRequestParts, Query};
use axum::http::request::Parts;
use axum::http::HeaderValue;
use axum::response::{IntoResponse, Response};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock};

use serde::Deserialize;
use sqlx::postgres::PgListener;
use sqlx::PgPool;
use tokio::sync::{watch, Notify};

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

    /// Both spellings are checked whenever they are sent (a repeated
    /// `min_position` is refused as serde's duplicate field); given both,
    /// the read waits for the larger.
    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, QueryError> {
        let invalid = || QueryError::bad("min_position", "must be a non-negative integer");
        let parse = |raw: &str| {
            raw.trim()
                .parse::<i64>()
                .ok()
                .filter(|p| *p >= 0)
                .ok_or_else(invalid)
        };
        let header = parts
            .headers
            .get("x-min-position")
            .map(|h| h.to_str().map_err(|_| invalid()).and_then(parse))
            .transpose()?;
        let query = Query::<MinPositionParam>::try_from_uri(&parts.uri)
            .map_err(|_| invalid())?
            .0
            .min_position
            .map(|raw| parse(&raw))
            .transpose()?;
        Ok(Self(header.max(query)))
    }
}

/// The position of the slowest of `projections` (0 for one that has not
/// published any yet).
pub async fn position(pool: &PgPool, projections: &[&str]) -> Result<i64, sqlx::Error> {
    static SQL: LazyLock<String> = LazyLock::new(|| slowest_position_sql(1));
    sqlx::query_scalar(&SQL)
        .bind(projections)
        .fetch_one(pool)
        .await
}

/// The slowest position of the projections named in parameter `$param`; one
/// that has published none counts as 0.
fn slowest_position_sql(param: u8) -> String {
    format!(
        "SELECT coalesce(min(coalesce(p.position, 0)), 0) \
         FROM unnest(${param}::text[]) AS n(name) \
         LEFT JOIN read_models.projection_positions p ON p.name = n.name"
    )
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

/// What a read needs to wait for `X-Min-Position`: the database, the
/// published positions as they are announced, and the bound.
#[derive(Clone)]
pub struct Freshness {
    /// The read models (the primary, or a replica of it).
    pub pool: PgPool,
    /// The primary: where positions are handed out and announced.
    pub primary: PgPool,
    /// Published positions, by projection.
    pub positions: watch::Receiver<HashMap<String, i64>>,
    /// Longest a read waits.
    pub max_wait: Duration,
    /// On a replica, the readers waiting, for whom its positions are read
    /// again and again (no announcement says when the replica replayed one).
    chase: Option<Arc<Chase>>,
}

use store::notify::POSITIONS_CHANNEL;

/// How often the positions are read again in case a notification was missed
/// (while the listener reconnects).
const REFRESH: Duration = Duration::from_secs(1);

/// How often a replica's positions are read while a reader waits.
const CHASE: Duration = Duration::from_millis(5);

/// Readers waiting for a replica to replay their position.
#[derive(Default)]
struct Chase {
    waiting: AtomicUsize,
    arrived: Notify,
}

/// A reader counted in [`Chase::waiting`] until dropped.
struct Waiting(Arc<Chase>);

impl Waiting {
    fn enter(chase: &Arc<Chase>) -> Self {
        chase.waiting.fetch_add(1, Ordering::SeqCst);
        chase.arrived.notify_one();
        Self(chase.clone())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.waiting.fetch_sub(1, Ordering::SeqCst);
    }
}

impl Freshness {
    /// Follows the published positions until `shutdown`: read from the table
    /// whenever a projection announces a change, and every second as a
    /// fallback.
    pub fn start(pool: PgPool, max_wait: Duration, shutdown: watch::Receiver<bool>) -> Self {
        Self::follow(pool.clone(), pool, None, max_wait, shutdown)
    }

    /// The same for read models on `replica`: positions are read from the
    /// replica (whatever it then serves is at least as new), woken by the
    /// primary's announcements and, while a reader waits, every few
    /// milliseconds.
    pub fn on_replica(
        replica: PgPool,
        primary: PgPool,
        max_wait: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let chase = Some(Arc::new(Chase::default()));
        Self::follow(replica, primary, chase, max_wait, shutdown)
    }

    fn follow(
        pool: PgPool,
        primary: PgPool,
        chase: Option<Arc<Chase>>,
        max_wait: Duration,
        shutdown: watch::Receiver<bool>,
    ) -> Self {
        let (tx, rx) = watch::channel(HashMap::new());
        tokio::spawn(follow_positions(
            pool.clone(),
            primary.clone(),
            chase.clone(),
            tx,
            shutdown,
        ));
        Self {
            pool,
            primary,
            positions: rx,
            max_wait,
            chase,
        }
    }
}

async fn all_positions(pool: &PgPool) -> Result<HashMap<String, i64>, sqlx::Error> {
    let rows: Vec<(String, i64)> =
        sqlx::query_as("SELECT name, position FROM read_models.projection_positions")
            .fetch_all(pool)
            .await?;
    Ok(rows.into_iter().collect())
}

async fn follow_positions(
    pool: PgPool,
    primary: PgPool,
    chase: Option<Arc<Chase>>,
    tx: watch::Sender<HashMap<String, i64>>,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut listener: Option<PgListener> = None;
    loop {
        if listener.is_none() {
            listener = match PgListener::connect_with(&primary).await {
                Ok(mut l) => l.listen(POSITIONS_CHANNEL).await.ok().map(|()| l),
                Err(_) => None,
            };
        }
        let read = all_positions(&pool).await;
        let answered = read.is_ok();
        if let Ok(positions) = read {
            tx.send_modify(|known| {
                for (name, position) in positions {
                    let entry = known.entry(name).or_insert(position);
                    *entry = (*entry).max(position);
                }
            });
        }
        let notification = async {
            match listener.as_mut() {
                Some(l) => l.try_recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            received = notification => match received {
                // A wake-up hint, never a position: any database login can
                // NOTIFY on the channel, so the positions are read from the
                // table, once for every burst of hints.
                Ok(Some(_)) => {
                    if let Some(l) = listener.as_mut() {
                        while l.next_buffered().is_some() {}
                    }
                }
                // The connection dropped: reconnect, and re-read what may
                // have been missed meanwhile.
                Ok(None) | Err(_) => listener = None,
            },
            _ = tokio::time::sleep(refresh(chase.as_deref(), answered)) => {}
            () = arrival(chase.as_deref()) => {}
            _ = shutdown.wait_for(|stopped| *stopped) => return,
        }
    }
}

/// How long until the positions are read again: soon while readers wait on
/// a replica that answers, else [`REFRESH`] (a replica that is down is not
/// asked hundreds of times a second).
fn refresh(chase: Option<&Chase>, answered: bool) -> Duration {
    match chase {
        Some(chase) if answered && chase.waiting.load(Ordering::SeqCst) > 0 => CHASE,
        _ => REFRESH,
    }
}

/// Completes when a reader starts waiting on a replica.
async fn arrival(chase: Option<&Chase>) {
    match chase {
        Some(chase) => chase.arrived.notified().await,
        None => std::future::pending().await,
    }
}

/// The slowest announced position of `projections`, if every one of them
/// has announced `wanted` or beyond.
fn reached(known: &HashMap<String, i64>, projections: &[&str], wanted: i64) -> Option<i64> {
    projections
        .iter()
        .map(|name| known.get(*name).copied().filter(|p| *p >= wanted))
        .try_fold(i64::MAX, |slowest, p| p.map(|p| slowest.min(p)))
}

/// How long a read waits for its position before asking whether the log has
/// handed that position out at all. Nearly every read is answered within it,
/// without that round trip; a position never handed out is still refused
/// after this long rather than after the whole bound.
const VALIDATE_AFTER: Duration = Duration::from_millis(100);

/// The slowest announced position of `projections` once all reached
/// `wanted`, if that happens within `wait`.
async fn announced_within(
    positions: &mut watch::Receiver<HashMap<String, i64>>,
    projections: &[&str],
    wanted: i64,
    wait: Duration,
) -> Option<i64> {
    // Only the position is kept: the guard `wait_for` returns must not live
    // across an await.
    tokio::time::timeout(
        wait,
        positions.wait_for(|known| reached(known, projections, wanted).is_some()),
    )
    .await
    .ok()
    .and_then(|seen| {
        seen.ok()
            .and_then(|known| reached(&known, projections, wanted))
    })
}

/// Waits (up to the bound) until `projections` reached `min`, and returns
/// their position.
///
/// The positions waited on are read from the positions table (by one task
/// per process, woken by the projections' announcements), never taken from
/// an announcement's payload: a position in the table is committed, and
/// every event at or below it applied (positions are commit-safe).
#[tracing::instrument(skip(freshness))]
pub async fn await_position(
    freshness: &Freshness,
    projections: &[&str],
    min: MinPosition,
) -> Result<i64, QueryError> {
    let pool = &freshness.pool;
    let Some(wanted) = min.0 else {
        return Ok(position(pool, projections).await?);
    };
    let mut positions = freshness.positions.clone();
    if let Some(at) = reached(&positions.borrow(), projections, wanted) {
        return Ok(at);
    }
    let started = tokio::time::Instant::now();
    let _waiting = freshness.chase.as_ref().map(Waiting::enter);
    let grace = VALIDATE_AFTER.min(freshness.max_wait);
    if let Some(at) = announced_within(&mut positions, projections, wanted, grace).await {
        return Ok(at);
    }
    // Asked of the primary: a replica's copy of the sequence lags it.
    let end = log_end(&freshness.primary).await?;
    if wanted > end {
        return Err(QueryError::bad(
            "min_position",
            format!("position {wanted} has not been handed out yet (the log ends at {end})"),
        ));
    }
    let rest = freshness.max_wait.saturating_sub(started.elapsed());
    if let Some(at) = announced_within(&mut positions, projections, wanted, rest).await {
        return Ok(at);
    }
    let at = position(pool, projections).await?;
    if at >= wanted {
        return Ok(at);
    }
    Err(QueryError::NotCaughtUp { wanted, at })
}

/// Waits for `min` only if the reader asked; `None` when it did not, so the
/// caller can read the position in its own query (one round trip, not two).
pub async fn await_if_asked(
    freshness: &Freshness,
    projections: &[&str],
    min: MinPosition,
) -> Result<Option<i64>, QueryError> {
    match min.0 {
        Some(_) => Ok(Some(await_position(freshness, projections, min).await?)),
        None => Ok(None),
    }
}

/// A select-list item giving the slowest position of the projections bound
/// as parameter `$param`, named `projection_position`.
pub fn position_column(param: u8) -> String {
    format!("({}) AS projection_position", slowest_position_sql(param))
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
