//! The default source of Stockroom's own workers: the committed log in
//! Postgres, in commit order, woken by LISTEN/NOTIFY and polled as a
//! fallback. One instance per subscription is active (it holds the lease);
//! the others stand by and take over when it dies.

use std::time::{Duration, Instant};

use sqlx::postgres::{PgConnectOptions, PgListener};
use sqlx::{ConnectOptions, PgConnection, PgPool};
use store::subscription::{self, Checkpoint, Lease};
use store::{LogFollower, LogRead, RecordedEvent};
use tokio::sync::watch;

use crate::handler::{Delivered, HandlerError};
use crate::relay::EVENTS_CHANNEL;
use crate::run::pause_unless_stopped;
use crate::source::{Batch, EventSource, Progress};
use crate::stall::StallReporter;
use crate::wake::wait_for_commits;
use crate::BusError;

/// How a [`LogSource`] reads and waits.
#[derive(Debug, Clone, Copy)]
pub struct LogSettings {
    /// Most events per batch.
    pub batch_size: i64,
    /// How long to sleep when idle if no notification arrives.
    pub poll_interval: Duration,
    /// How often a standby tries to take the lease.
    pub standby_retry: Duration,
    /// How often the active instance checks it still holds the lease.
    pub lease_check: Duration,
    /// Least time between a caught-up follower's reads (see [`crate::wake`]).
    pub linger: Duration,
    /// Least time between two batches that only move the settled position
    /// (no events of this subscription's categories): every commit anywhere
    /// moves it, and writing each move would cost a transaction per commit.
    pub progress_interval: Duration,
}

impl Default for LogSettings {
    fn default() -> Self {
        Self {
            batch_size: 500,
            poll_interval: Duration::from_millis(500),
            linger: crate::wake::READ_LINGER,
            standby_retry: Duration::from_secs(1),
            lease_check: Duration::from_secs(1),
            progress_interval: Duration::from_millis(100),
        }
    }
}

/// A subscription to the log of record.
pub struct LogSource {
    pool: PgPool,
    connect: PgConnectOptions,
    name: String,
    settings: LogSettings,
    follower: LogFollower,
    lease: Option<Lease>,
    listener: Option<PgListener>,
    /// The connection reads go through, kept between them (a pooled one
    /// would cost a round trip more per read, for the pool's check on return).
    reader: Option<PgConnection>,
    /// How long to wait for commits before the next read; `None` reads at once.
    wait: Option<Duration>,
    last_read: Instant,
    reload: bool,
    in_flight: Option<LogRead>,
    last_batch: Instant,
    stalls: StallReporter,
    /// Positions the subscription is behind the log's end.
    positions_behind: metrics::Gauge,
    /// Age of the newest event it handled (0 when caught up).
    lag_seconds: metrics::Gauge,
}

impl LogSource {
    /// A subscription called `name` to events of `categories` (all when empty).
    pub fn new(pool: PgPool, name: &str, categories: &[&str], settings: LogSettings) -> Self {
        let connect = pool.connect_options().as_ref().clone();
        Self {
            pool,
            connect,
            name: name.to_owned(),
            settings,
            follower: LogFollower::new(categories, settings.batch_size, Default::default(), 0),
            lease: None,
            listener: None,
            reader: None,
            wait: None,
            last_read: Instant::now(),
            reload: true,
            in_flight: None,
            last_batch: Instant::now(),
            stalls: StallReporter::new(name),
            positions_behind: metrics::gauge!("stockroom_subscription_positions_behind", "subscription" => name.to_owned()),
            lag_seconds: metrics::gauge!("stockroom_subscription_lag_seconds", "subscription" => name.to_owned()),
        }
        .with_lag_gauges_at_zero()
    }

    /// Puts the lag gauges on /metrics before the first batch.
    fn with_lag_gauges_at_zero(self) -> Self {
        self.positions_behind.set(0.0);
        self.lag_seconds.set(0.0);
        self
    }

    /// Takes the lease if free; `false` while another instance holds it.
    async fn try_lead(&mut self) -> Result<bool, BusError> {
        let Some(lease) = Lease::try_acquire(&self.connect, &self.name).await? else {
            return Ok(false);
        };
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        self.lease = Some(lease);
        self.listener = Some(listener);
        self.reload = true;
        tracing::info!(subscription = %self.name, "active: following the log");
        metrics::gauge!("stockroom_subscription_active", "subscription" => self.name.clone())
            .set(1.0);
        Ok(true)
    }

    async fn step_down(&mut self, why: &str) {
        tracing::warn!(subscription = %self.name, why, "standing down");
        metrics::gauge!("stockroom_subscription_active", "subscription" => self.name.clone())
            .set(0.0);
        self.listener = None;
        self.reader = None;
        self.wait = None;
        self.in_flight = None;
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }

    /// The events of the batch last handed out, as the log holds them.
    pub fn in_flight_events(&self) -> &[RecordedEvent] {
        self.in_flight.as_ref().map_or(&[], |read| &read.events)
    }

    /// Drops the batch in flight and reloads the checkpoint before the next
    /// read: what was handed out was not recorded and is read again.
    pub fn start_over(&mut self) {
        self.in_flight = None;
        self.reload = true;
        self.wait = None;
    }

    async fn read(&mut self) -> Result<LogRead, BusError> {
        self.last_read = Instant::now();
        let mut conn = match self.reader.take() {
            Some(conn) => conn,
            None => self.connect.connect().await?,
        };
        if self.reload {
            // (The session itself was checked when the lease was taken:
            // both connections are made with the same options.)
            store::db::check_cluster_ids(&mut conn).await?;
            let checkpoint = subscription::load(&mut conn, &self.name).await?;
            self.follower.reset(checkpoint.cursor, checkpoint.settled);
            self.reload = false;
        }
        let read = self.follower.read(&mut conn).await?;
        self.stalls.observe(&mut conn, read.held_back_for).await;
        // Kept only after a read that worked: a failed one may have left it
        // broken, and the next read connects afresh.
        self.reader = Some(conn);
        Ok(read)
    }
}

impl EventSource for LogSource {
    async fn next_batch(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Batch>, BusError> {
        loop {
            if *shutdown.borrow() {
                return Ok(None);
            }
            let Some(lease) = self.lease.as_mut() else {
                if !self.try_lead().await? {
                    pause_unless_stopped(self.settings.standby_retry, shutdown).await;
                }
                continue;
            };
            if !lease.held(self.settings.lease_check).await {
                self.step_down("lost the lease connection").await;
                continue;
            }
            if let Some(poll) = self.wait.take() {
                let linger = self.settings.linger;
                wait_for_commits(
                    self.listener.as_mut(),
                    poll,
                    linger,
                    self.last_read,
                    shutdown,
                )
                .await;
                continue;
            }
            let read = match self.read().await {
                Ok(read) => read,
                Err(e) => {
                    // Check the lease before the next try: a restarted
                    // Postgres took it with every other connection.
                    if let Some(lease) = self.lease.as_mut() {
                        lease.check_next();
                    }
                    self.reload = true;
                    return Err(e);
                }
            };
            if read.events.is_empty() {
                let since = self.last_batch.elapsed();
                let moved = read.settled > self.follower.settled();
                if !moved || since < self.settings.progress_interval {
                    self.wait = Some(if moved {
                        self.settings.progress_interval - since
                    } else {
                        self.settings.poll_interval
                    });
                    continue;
                }
            }
            if read.caught_up {
                self.wait = Some(self.settings.poll_interval);
            }
            self.last_batch = Instant::now();
            let batch = Batch {
                messages: read.events.iter().map(Delivered::from_log).collect(),
                malformed: Vec::new(),
                progress: Progress::Log {
                    from: self.follower.cursor(),
                    to: Checkpoint {
                        cursor: read.cursor,
                        settled: read.settled,
                    },
                },
            };
            self.in_flight = Some(read);
            return Ok(Some(batch));
        }
    }

    async fn hold(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
        batch: &Batch,
    ) -> Result<bool, HandlerError> {
        let Progress::Log { from, .. } = &batch.progress else {
            unreachable!("a log source only makes log batches");
        };
        // The row lock serialises this transaction with every other one of
        // the subscription (a standby that took over, this instance's own
        // isolation of a poison batch), and the claims are read after it:
        // a claim committed by another instance since this one loaded its
        // checkpoint is seen, so its event is deduplicated, never applied twice.
        let highest_claim = subscription::hold(conn, &self.name, *from, consumer).await?;
        Ok(batch
            .messages
            .iter()
            .all(|m| m.envelope.global_position > highest_claim))
    }

    async fn record(
        &self,
        conn: &mut PgConnection,
        _consumer: &str,
        batch: &Batch,
    ) -> Result<(), HandlerError> {
        let Progress::Log { from, to } = &batch.progress else {
            unreachable!("a log source only makes log batches");
        };
        subscription::save(conn, &self.name, *from, *to, batch.messages.len() as i64).await?;
        Ok(())
    }

    fn committed(&mut self, _batch: &Batch) {
        if let Some(read) = self.in_flight.take() {
            self.follower.advance(&read);
            // Positions of every category: an upper bound for a subscriber
            // of some categories only.
            self.positions_behind
                .set((read.log_end - read.settled).max(0) as f64);
            let age = read.events.last().map_or(0.0, |e| {
                (chrono::Utc::now() - e.occurred_at).num_milliseconds() as f64 / 1e3
            });
            self.lag_seconds.set(age.max(0.0));
        }
    }

    fn fenced(&mut self) {
        tracing::warn!(subscription = %self.name, "checkpoint moved by another writer; reloading it");
        self.start_over();
    }

    async fn close(&mut self) {
        self.listener = None;
        self.reader = None;
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }
}
