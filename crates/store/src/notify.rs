//! Waking the log's followers and the readers waiting for positions, after
//! commits and outside the committing transactions.
//!
//! A `NOTIFY` inside a transaction takes a cluster-wide lock at commit and
//! holds it through the commit's WAL flush, so every transaction that
//! notifies commits one after another: on this machine 32 clients inserting
//! one row each managed 8,500 commits/s without the notify and 1,630 with it
//! (pgbench, fsync on). So appending transactions do not notify. Each
//! process has one [`Notifier`] instead: committers mark what changed, and
//! its task sends everything pending in one statement on a connection of its
//! own, with `synchronous_commit = off` (a notification carries nothing that
//! must survive a crash: followers also poll). Bursts of commits coalesce
//! into one notification.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::postgres::PgConnectOptions;
use sqlx::{ConnectOptions, PgConnection, PgPool};
use tokio::sync::{watch, Notify};

use crate::error_chain;

/// Where committed appends are announced (the payload is empty).
pub const EVENTS_CHANNEL: &str = "stockroom_events";

/// Where projections announce their positions (`"<name> <position>"`).
pub const POSITIONS_CHANNEL: &str = "stockroom_positions";

/// Least time between two announcements of one process. Every announcement
/// wakes every listening connection (in Postgres and in each follower), and
/// followers read at most once per linger anyway (10 ms by default), so
/// announcing each commit of a burst separately bought nothing: this turns
/// 500 commits a second into at most 200 announcements.
const MIN_INTERVAL: Duration = Duration::from_millis(5);

/// How long the task waits before connecting again after a failure.
const RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// What is waiting to be announced.
#[derive(Debug, Default)]
struct Pending {
    events: bool,
    positions: BTreeMap<String, i64>,
}

impl Pending {
    fn take(&mut self) -> Vec<(&'static str, String)> {
        let mut out = Vec::with_capacity(self.positions.len() + 1);
        if std::mem::take(&mut self.events) {
            out.push((EVENTS_CHANNEL, String::new()));
        }
        for (name, position) in std::mem::take(&mut self.positions) {
            out.push((POSITIONS_CHANNEL, format!("{name} {position}")));
        }
        out
    }
}

#[derive(Debug, Default)]
struct Shared {
    pending: Mutex<Pending>,
    wake: Notify,
}

/// A process's announcer of commits; cheap to clone, never blocks.
#[derive(Debug, Clone, Default)]
pub struct Notifier {
    shared: Option<Arc<Shared>>,
}

impl Notifier {
    /// Announces through its own connection to `pool`'s database until `stop`.
    pub fn start(pool: &PgPool, stop: watch::Receiver<bool>) -> Self {
        let shared = Arc::new(Shared::default());
        let options = (*pool.connect_options())
            .clone()
            .application_name("stockroom-notifier");
        tokio::spawn(announce(options, shared.clone(), stop));
        Self {
            shared: Some(shared),
        }
    }

    /// Announces nothing (tools and tests whose appends nobody waits for;
    /// followers still find them by polling).
    pub fn disabled() -> Self {
        Self::default()
    }

    fn mark(&self, change: impl FnOnce(&mut Pending)) {
        if let Some(shared) = &self.shared {
            change(
                &mut shared
                    .pending
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner),
            );
            shared.wake.notify_one();
        }
    }

    /// Events were committed: wake the relay and the log's subscriptions.
    pub fn events_appended(&self) {
        self.mark(|p| p.events = true);
    }

    /// Projection `name` committed `position`: wake the readers waiting for it.
    pub fn position_published(&self, name: &str, position: i64) {
        self.mark(|p| {
            let latest = p.positions.entry(name.to_owned()).or_insert(position);
            *latest = (*latest).max(position);
        });
    }
}

/// Sends what is pending whenever something is marked, until `stop`.
async fn announce(options: PgConnectOptions, shared: Arc<Shared>, mut stop: watch::Receiver<bool>) {
    let mut conn: Option<PgConnection> = None;
    loop {
        tokio::select! {
            _ = shared.wake.notified() => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
        let batch = shared
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if batch.is_empty() {
            continue;
        }
        let started = Instant::now();
        let pause = match send(&mut conn, &options, &batch).await {
            Ok(()) => MIN_INTERVAL.saturating_sub(started.elapsed()),
            Err(e) => {
                // Followers poll, so a lost notification only delays them.
                tracing::warn!(error = %error_chain(&e), "cannot announce commits; followers will find them by polling");
                conn = None;
                RECONNECT_DELAY
            }
        };
        // What is marked meanwhile goes out together after the pause.
        tokio::select! {
            _ = tokio::time::sleep(pause) => {}
            _ = stop.wait_for(|stopped| *stopped) => return,
        }
    }
}

async fn send(
    conn: &mut Option<PgConnection>,
    options: &PgConnectOptions,
    batch: &[(&'static str, String)],
) -> Result<(), sqlx::Error> {
    if conn.is_none() {
        let mut fresh = options.connect().await?;
        sqlx::query("SET synchronous_commit = off")
            .execute(&mut fresh)
            .await?;
        *conn = Some(fresh);
    }
    let Some(conn) = conn.as_mut() else {
        return Ok(());
    };
    let (channels, payloads): (Vec<&str>, Vec<&str>) =
        batch.iter().map(|(c, p)| (*c, p.as_str())).unzip();
    sqlx::query("SELECT pg_notify(c, p) FROM unnest($1::text[], $2::text[]) AS n(c, p)")
        .bind(&channels)
        .bind(&payloads)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_changes_coalesce_into_one_announcement_each() {
        let mut pending = Pending {
            events: true,
            positions: BTreeMap::from([("orders".to_owned(), 7)]),
        };
        let batch = pending.take();
        assert_eq!(
            batch,
            vec![
                (EVENTS_CHANNEL, String::new()),
                (POSITIONS_CHANNEL, "orders 7".to_owned())
            ]
        );
        assert!(pending.take().is_empty(), "taken once");
    }

    #[test]
    fn a_disabled_notifier_accepts_marks_and_does_nothing() {
        let notifier = Notifier::disabled();
        notifier.events_appended();
        notifier.position_published("orders", 3);
    }
}
