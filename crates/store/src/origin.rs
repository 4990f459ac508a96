//! Whether appends may go ahead on this database. Not on a logical copy of
//! another cluster's log that `stockroom migrate` has not rebased yet
//! ([`crate::db::check_cluster_ids`]): an event appended there takes one of
//! this cluster's low transaction ids, sorts before the restored log and
//! behind every cursor, and would never be read; the rebase could not tell
//! it from the restored events either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Mutex;

use crate::db::check_cluster_ids;
use crate::StoreError;

/// How long a check that found this cluster's own log answers.
const RECHECK: Duration = Duration::from_secs(10);

/// How long a check that found a copy not rebased answers: appends are
/// refused without a query each, and `migrate` is noticed soon after.
const REFUSE_FOR: Duration = Duration::from_secs(1);

/// A cached answer to "is this log ours?", shared by every clone: one query
/// per [`RECHECK`] at most while it is, at most one at a time while not.
#[derive(Clone)]
pub struct AppendGuard {
    epoch: Instant,
    /// Milliseconds after `epoch` until which the log is known to be ours
    /// (0: not known), read without a lock on every append.
    ours_until: Arc<AtomicU64>,
    /// Milliseconds after `epoch` until which the log is known not to be.
    refused_until: Arc<AtomicU64>,
    checking: Arc<Mutex<()>>,
}

impl Default for AppendGuard {
    fn default() -> Self {
        Self {
            epoch: Instant::now(),
            ours_until: Arc::new(AtomicU64::new(0)),
            refused_until: Arc::new(AtomicU64::new(0)),
            checking: Arc::new(Mutex::new(())),
        }
    }
}

impl AppendGuard {
    /// `Ok` if the log may be appended to; [`StoreError::RestoredCopy`] on
    /// a copy not rebased yet.
    pub async fn check(&self, pool: &PgPool) -> Result<(), StoreError> {
        if self.known_ours() {
            return Ok(());
        }
        if self.known_refused() {
            return Err(StoreError::RestoredCopy);
        }
        let _one_at_a_time = self.checking.lock().await;
        if self.known_ours() {
            return Ok(());
        }
        if self.known_refused() {
            return Err(StoreError::RestoredCopy);
        }
        let mut conn = pool.acquire().await?;
        let checked = check_cluster_ids(&mut conn).await;
        let (verdict, lasts) = match &checked {
            Ok(()) => (&self.ours_until, RECHECK),
            Err(StoreError::RestoredCopy) => (&self.refused_until, REFUSE_FOR),
            // The database failed: nothing learnt.
            Err(_) => return checked,
        };
        let until = self.epoch.elapsed() + lasts;
        verdict.store(until.as_millis() as u64, Ordering::Release);
        checked
    }

    fn known_ours(&self) -> bool {
        self.now_millis() < self.ours_until.load(Ordering::Acquire)
    }

    fn known_refused(&self) -> bool {
        self.now_millis() < self.refused_until.load(Ordering::Acquire)
    }

    fn now_millis(&self) -> u64 {
        self.epoch.elapsed().as_millis() as u64
    }
}
