//! What a projection is, and the adapter that runs one on the consumer loop.

use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use std::future::Future;
use store::Notifier;

use bus::{BatchHandler, Delivered, HandlerError, Progress};
use domain::StreamCategory;
use sqlx::{Executor, PgConnection};

use crate::position;

/// The schema live read models are in.
pub const LIVE_SCHEMA: &str = "read_models";

/// A read model fed by events of some categories. Its SQL names its tables
/// without a schema: the transaction's `search_path` decides whether it
/// writes the live tables, a rebuild's copy or a verification's temp tables.
pub trait Projection: Send + Sync + 'static {
    /// Stable name: consumer group suffix, dedup scope, rebuild target.
    const NAME: &'static str;
    /// The stream categories it reads.
    const CATEGORIES: &'static [StreamCategory];
    /// The tables it owns.
    const TABLES: &'static [&'static str];
    /// Least time between its caught-up reads of the log: how stale a
    /// reader of this model may find it, traded for fewer transactions.
    /// Each batch costs a transaction of about six round trips, whatever
    /// its size, so a model read less eagerly lingers longer.
    const READ_LINGER: Duration;

    /// Applies a batch in order, inside the caller's transaction. Every
    /// projection writes a batch in a few statements, so this is the one to
    /// implement.
    fn apply_batch<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [Delivered],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;

    /// Applies one event inside the caller's transaction (a batch of one:
    /// replays that isolate a failing event, and the bench's baselines).
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        event: &'a Delivered,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a {
        self.apply_batch(conn, std::slice::from_ref(event))
    }

    /// Category names, as stored.
    fn category_names() -> Vec<&'static str> {
        Self::CATEGORIES.iter().map(|c| c.as_str()).collect()
    }
}

/// Scopes a projection's transaction: points it at `schema`'s tables
/// (falling back to `public` for the log) and keeps its statements on the
/// index lookups they are written for, in one round trip.
///
/// Why: a batch statement joins its arrays with a read model that grows
/// (orders, order lines). The generic plan Postgres caches for a connection
/// while such a table is a few pages long is a sequential scan, a hash or a
/// merge join over the whole table, kept as the table grows; planning
/// every statement per batch instead cost about 0.75 CPU-s of every 10 at
/// 500 orders/s (profile round eleven). Every statement here looks rows up
/// by key, so with those three plans priced out the cached plan is the
/// index plan whatever the statistics said when it was made.
pub async fn scope_batch(conn: &mut PgConnection, schema: &str) -> Result<(), sqlx::Error> {
    conn.execute(scope_sql(schema).as_str()).await?;
    Ok(())
}

/// The statements of [`scope_batch`], in one simple-protocol message.
fn scope_sql(schema: &str) -> String {
    format!(
        "SET LOCAL search_path TO {schema}, public; \
         SET LOCAL plan_cache_mode = force_generic_plan; \
         SET LOCAL enable_seqscan = off; \
         SET LOCAL enable_hashjoin = off; \
         SET LOCAL enable_mergejoin = off"
    )
}

/// The advisory lock a rebuild takes exclusively to swap tables, and live
/// batches take shared, so a swap never lands in the middle of a batch.
pub fn swap_lock_sql(mode: &str) -> String {
    swap_lock_of(mode, "$1")
}

/// The swap lock of the projection `name` (an SQL expression).
fn swap_lock_of(mode: &str, name: &str) -> String {
    format!(
        "SELECT pg_advisory_xact_lock{mode}(hashtextextended('stockroom-projection:' || {name}, 0))"
    )
}

/// What opens a live batch of projection `name`: the swap lock, shared, and
/// the scope of the live tables, as statements without parameters.
fn live_batch_preamble(name: &str) -> String {
    let literal = format!("'{}'", name.replace('\'', "''"));
    format!(
        "{}; {}",
        swap_lock_of("_shared", &literal),
        scope_sql(LIVE_SCHEMA)
    )
}

/// Runs a [`Projection`] as a [`BatchHandler`]: applies the fresh events in
/// order, then publishes the projection's position in the same transaction,
/// and announces it once committed.
pub struct ProjectionHandler<P> {
    projection: P,
    notifier: Notifier,
    preamble: String,
    /// The position the last batch published (announced after its commit).
    published: AtomicI64,
}

impl<P: Projection> ProjectionHandler<P> {
    /// `projection`, announcing its positions through `notifier`.
    pub fn new(projection: P, notifier: Notifier) -> Self {
        Self {
            projection,
            notifier,
            preamble: live_batch_preamble(P::NAME),
            published: AtomicI64::new(0),
        }
    }
}

impl<P: Projection> BatchHandler for ProjectionHandler<P> {
    fn consumer_name(&self) -> &str {
        P::NAME
    }

    fn preamble(&self) -> Option<&str> {
        Some(&self.preamble)
    }

    async fn apply(
        &self,
        conn: &mut PgConnection,
        events: &[Delivered],
    ) -> Result<(), HandlerError> {
        self.projection.apply_batch(conn, events).await
    }

    async fn after_batch(
        &self,
        conn: &mut PgConnection,
        progress: &Progress,
    ) -> Result<(), HandlerError> {
        let published = match progress {
            Progress::Log { to, .. } => {
                position::publish_settled(conn, P::NAME, P::CATEGORIES, to.settled).await?;
                to.settled
            }
            Progress::Offsets(_) => {
                position::advance_from_kafka(conn, P::NAME, P::CATEGORIES).await?
            }
        };
        self.published.store(published, Ordering::Relaxed);
        Ok(())
    }

    fn committed(&self, progress: Option<&Progress>) {
        if progress.is_some() {
            let published = self.published.load(Ordering::Relaxed);
            self.notifier.position_published(P::NAME, published);
        }
    }
}

/// A decoding failure: the event will never apply, so it is poison.
pub fn poison(e: serde_json::Error) -> HandlerError {
    HandlerError::Poison(Box::new(e))
}
