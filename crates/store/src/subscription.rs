//! A subscription's checkpoint in the log, and the lease that lets exactly
//! one instance of a worker follow it at a time.

use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, Row};

use crate::read::CommitCursor;
use crate::StoreError;

/// Where a subscription has read to, and what it has promised.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Checkpoint {
    /// Everything at or before this has been handled.
    pub cursor: CommitCursor,
    /// Every event of its categories at or below this position is handled.
    pub settled: i64,
}

impl Checkpoint {
    /// Reads `transaction_id` (as bigint), `position` and `settled` columns.
    pub fn from_row(row: &sqlx::postgres::PgRow) -> Result<Self, sqlx::Error> {
        Ok(Self {
            cursor: CommitCursor {
                transaction_id: row.try_get::<i64, _>("transaction_id")? as u64,
                position: row.try_get("position")?,
            },
            settled: row.try_get("settled")?,
        })
    }
}

/// The subscription's checkpoint, created at the start of the log if new.
pub async fn load(conn: &mut PgConnection, name: &str) -> Result<Checkpoint, StoreError> {
    sqlx::query("INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    let row = sqlx::query(
        "SELECT transaction_id::text::bigint AS transaction_id, position, settled \
         FROM subscriptions WHERE name = $1",
    )
    .bind(name)
    .fetch_one(conn)
    .await?;
    Ok(Checkpoint::from_row(&row)?)
}

/// Moves the checkpoint from `from` to `to`, in the caller's transaction (the
/// one holding the effects). Fails with [`StoreError::CheckpointMoved`] when
/// the checkpoint is no longer at `from`: another instance or a rebuild
/// moved it, and this transaction must roll back.
pub async fn save(
    conn: &mut PgConnection,
    name: &str,
    from: CommitCursor,
    to: Checkpoint,
    handled: i64,
) -> Result<(), StoreError> {
    let updated = sqlx::query(
        "UPDATE subscriptions SET transaction_id = $4::text::xid8, position = $5, \
             settled = GREATEST(settled, $6), handled_events = handled_events + $7, \
             updated_at = now() \
         WHERE name = $1 AND transaction_id = $2::text::xid8 AND position = $3",
    )
    .bind(name)
    .bind(from.transaction_id.to_string())
    .bind(from.position)
    .bind(to.cursor.transaction_id.to_string())
    .bind(to.cursor.position)
    .bind(to.settled)
    .bind(handled)
    .execute(conn)
    .await?;
    if updated.rows_affected() == 0 {
        return Err(StoreError::CheckpointMoved {
            subscription: name.to_owned(),
        });
    }
    Ok(())
}

/// Locks the checkpoint of `name` in the caller's transaction, if it is
/// still at `from`, and returns the highest position `consumer` has claimed
/// by event id as of then: events above it and past the checkpoint cannot
/// have been handled, and no other instance can handle one until this
/// transaction ends. Fails with [`StoreError::CheckpointMoved`] otherwise.
pub async fn hold(
    conn: &mut PgConnection,
    name: &str,
    from: CommitCursor,
    consumer: &str,
) -> Result<i64, StoreError> {
    let highest: Option<i64> =
        sqlx::query_scalar("SELECT hold_subscription($1, $2::text::xid8, $3, $4)")
            .bind(name)
            .bind(from.transaction_id.to_string())
            .bind(from.position)
            .bind(consumer)
            .fetch_one(conn)
            .await?;
    highest.ok_or_else(|| StoreError::CheckpointMoved {
        subscription: name.to_owned(),
    })
}

/// Moves a checkpoint forward to `to` unless it is already there or past it
/// (a rebuild that replayed further than the live worker).
pub async fn fast_forward(
    conn: &mut PgConnection,
    name: &str,
    to: CommitCursor,
) -> Result<(), StoreError> {
    sqlx::query("INSERT INTO subscriptions (name) VALUES ($1) ON CONFLICT (name) DO NOTHING")
        .bind(name)
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "UPDATE subscriptions SET transaction_id = $2::text::xid8, position = $3, updated_at = now() \
         WHERE name = $1 AND (transaction_id, position) < ($2::text::xid8, $3)",
    )
    .bind(name)
    .bind(to.transaction_id.to_string())
    .bind(to.position)
    .execute(conn)
    .await?;
    Ok(())
}

/// The right to follow one subscription: a session-level advisory lock on a
/// connection of its own. Postgres releases it when the holder's connection
/// ends, so a standby takes over as soon as the holder dies.
///
/// A log follower holds it alone ([`Lease::try_acquire`]); the members of a
/// Kafka consumer group for the same subscription hold it together
/// ([`Lease::try_acquire_shared`]). So a subscription is never fed by both
/// sources at once, which lets the log follower skip deduplicating by event
/// id: nothing but its own checkpoint can have handled what lies beyond it.
pub struct Lease {
    conn: PgConnection,
    name: String,
    /// When its connection last answered, or `None` to ask at the next check.
    checked: Option<Instant>,
}

impl Lease {
    /// Takes the lease of `name` alone, if nobody holds it.
    pub async fn try_acquire(
        options: &PgConnectOptions,
        name: &str,
    ) -> Result<Option<Self>, StoreError> {
        Self::try_lock(options, name, "pg_try_advisory_lock").await
    }

    /// Takes a share of the lease of `name`, unless someone holds it alone.
    pub async fn try_acquire_shared(
        options: &PgConnectOptions,
        name: &str,
    ) -> Result<Option<Self>, StoreError> {
        Self::try_lock(options, name, "pg_try_advisory_lock_shared").await
    }

    async fn try_lock(
        options: &PgConnectOptions,
        name: &str,
        function: &str,
    ) -> Result<Option<Self>, StoreError> {
        let mut conn = PgConnection::connect_with(options).await?;
        // A session-level lock means nothing through a transaction pooler.
        crate::db::check_session(&mut conn).await?;
        let held: bool = sqlx::query_scalar(&format!(
            "SELECT {function}(hashtextextended('stockroom-subscription:' || $1, 0))"
        ))
        .bind(name)
        .fetch_one(&mut conn)
        .await?;
        if !held {
            let _ = conn.close().await;
            return Ok(None);
        }
        Ok(Some(Self {
            conn,
            name: name.to_owned(),
            checked: Some(Instant::now()),
        }))
    }

    /// Whether the lease is still held (its connection still answers),
    /// asking the connection only once `every` has passed since it last did.
    pub async fn held(&mut self, every: Duration) -> bool {
        if self.checked.is_some_and(|at| at.elapsed() < every) {
            return true;
        }
        let alive = self.conn.ping().await.is_ok();
        self.checked = alive.then(Instant::now);
        alive
    }

    /// Makes the next [`Lease::held`] ask the connection: something else
    /// failed, and a restarted Postgres takes the lease with it.
    pub fn check_next(&mut self) {
        self.checked = None;
    }

    /// The subscription it is for.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Gives the lease up at once: unlocked before the connection closes,
    /// since a closing backend frees its locks only when its process exits.
    pub async fn release(mut self) {
        let _ = sqlx::query("SELECT pg_advisory_unlock_all()")
            .execute(&mut self.conn)
            .await;
        let _ = self.conn.close().await;
    }
}
