//! The transactional-outbox relay: publishes the committed log to Kafka in
//! commit order, and records progress only after the broker acknowledged.
//!
//! One relay publishes at a time: the active one holds a session-level
//! advisory lock on its own connection. If that process dies, Postgres drops
//! the connection and the lock with it, and a standby takes over on its next
//! try (every `standby_retry`).

use std::time::{Duration, Instant};

use domain::StreamCategory;
use futures::future::try_join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sqlx::postgres::PgListener;
use sqlx::{Connection, PgConnection, Row};
use store::subscription::Checkpoint;
use store::{error_chain, LogFollower, RecordedEvent};
use tokio::sync::watch;

use crate::admin::ensure_topics;
use crate::producer::{idempotent_producer, ProducerSettings};
use crate::stall::StallReporter;
use crate::wake::wait_for_commits;
use crate::{BusError, Envelope, KafkaConfig};

/// The advisory lock key that elects the active relay ("stockrm" in ASCII).
pub const RELAY_LOCK_KEY: i64 = 0x73_74_6f_63_6b_72_6d;

/// The channel the event store notifies on commit.
pub use store::notify::EVENTS_CHANNEL;

/// Relay tuning.
#[derive(Debug, Clone)]
pub struct RelayConfig {
    /// Events read and published per round.
    pub batch_size: i64,
    /// How long to sleep when idle if no notification arrives.
    pub poll_interval: Duration,
    /// Least time between reads once caught up (see [`crate::wake`]).
    pub read_linger: Duration,
    /// How often a standby tries to become active.
    pub standby_retry: Duration,
    /// How often lag is measured and logged.
    pub lag_interval: Duration,
    /// Producer tuning (linger, delivery timeout, compression).
    pub producer: ProducerSettings,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            batch_size: 1000,
            poll_interval: Duration::from_millis(500),
            read_linger: crate::wake::READ_LINGER,
            standby_retry: Duration::from_secs(1),
            lag_interval: Duration::from_secs(5),
            producer: ProducerSettings::default(),
        }
    }
}

/// Events committed but not yet published.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RelayLag {
    /// How many.
    pub events: i64,
    /// Age of the oldest, in seconds (0 when none).
    pub oldest_seconds: f64,
}

/// Measures the relay's lag from its checkpoint.
pub async fn relay_lag(conn: &mut PgConnection) -> Result<RelayLag, sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*) AS events, \
                coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) AS oldest \
         FROM events e, relay_checkpoint c \
         WHERE (e.transaction_id, e.position) > (c.transaction_id, c.position)",
    )
    .fetch_one(conn)
    .await?;
    Ok(RelayLag {
        events: row.try_get("events")?,
        oldest_seconds: row.try_get("oldest")?,
    })
}

/// Records lag as Prometheus gauges.
pub fn record_lag(lag: RelayLag) {
    metrics::gauge!("stockroom_relay_lag_events").set(lag.events as f64);
    metrics::gauge!("stockroom_relay_oldest_unpublished_seconds").set(lag.oldest_seconds);
}

/// The relay process.
pub struct Relay {
    database_url: String,
    kafka: KafkaConfig,
    config: RelayConfig,
}

enum Stint {
    Standby,
    Stopped,
}

impl Relay {
    /// A relay reading from `db` and publishing to `kafka`.
    pub fn new(database_url: String, kafka: KafkaConfig, config: RelayConfig) -> Self {
        Self {
            database_url,
            kafka,
            config,
        }
    }

    /// Runs until `shutdown` turns true: stands by, leads, recovers from
    /// database and broker failures by starting over from the checkpoint.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), BusError> {
        metrics::counter!("stockroom_relay_published_events_total").increment(0);
        let producer = idempotent_producer(&self.kafka, &self.config.producer)?;
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let result = match ensure_topics(&self.kafka).await {
                Ok(()) => self.lead(&producer, &mut shutdown).await,
                Err(e) => Err(e),
            };
            let pause = match result {
                Ok(Stint::Stopped) => break,
                Ok(Stint::Standby) => {
                    failures = 0;
                    self.config.standby_retry
                }
                Err(e) => {
                    failures += 1;
                    tracing::error!(error = %error_chain(&e), failures, "relay failed; starting over from the checkpoint");
                    Duration::from_millis(200 * u64::from(failures.min(25)))
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = shutdown.changed() => {}
            }
        }
        // Whatever was handed to the client is flushed; progress past it was
        // never recorded, so the next relay republishes it at worst.
        let _ = producer.flush(Duration::from_secs(5));
        tracing::info!("relay stopped");
        Ok(())
    }

    /// One stint as the active relay, or a quick return if another is active.
    async fn lead(
        &self,
        producer: &FutureProducer,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Stint, BusError> {
        let mut conn =
            PgConnection::connect_with(&store::db::connect_options(&self.database_url)?).await?;
        let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(RELAY_LOCK_KEY)
            .fetch_one(&mut conn)
            .await?;
        if !leader {
            tracing::debug!("another relay is active; standing by");
            return Ok(Stint::Standby);
        }
        tracing::info!("relay is active");
        let mut listener = PgListener::connect(&self.database_url).await?;
        listener.listen(EVENTS_CHANNEL).await?;
        store::db::check_cluster_ids(&mut conn).await?;
        let checkpoint = load_checkpoint(&mut conn).await?;
        let mut follower = LogFollower::new(
            &[],
            self.config.batch_size,
            checkpoint.cursor,
            checkpoint.settled,
        );
        let mut last_lag = Instant::now() - self.config.lag_interval;
        let mut stalls = StallReporter::new("relay");
        let (mut wait, mut last_read) = (None, Instant::now());
        loop {
            if last_lag.elapsed() >= self.config.lag_interval {
                let lag = relay_lag(&mut conn).await?;
                record_lag(lag);
                if lag.events > 0 {
                    tracing::info!(
                        lag_events = lag.events,
                        oldest_seconds = lag.oldest_seconds,
                        "relay lag"
                    );
                }
                last_lag = Instant::now();
            }
            if *shutdown.borrow() {
                return Ok(Stint::Stopped);
            }
            if let Some(poll) = wait.take() {
                let linger = self.config.read_linger;
                wait_for_commits(Some(&mut listener), poll, linger, last_read, shutdown).await;
                continue;
            }
            last_read = Instant::now();
            let read = follower.read(&mut conn).await?;
            stalls.observe(&mut conn, read.held_back_for).await;
            if read.events.is_empty() && read.settled <= follower.settled() {
                wait = Some(self.config.poll_interval);
                continue;
            }
            if read.caught_up {
                wait = Some(self.config.poll_interval);
            }
            self.publish(producer, &read.events).await?;
            save_checkpoint(
                &mut conn,
                Checkpoint {
                    cursor: read.cursor,
                    settled: read.settled,
                },
                read.events.len() as i64,
            )
            .await?;
            follower.advance(&read);
            metrics::counter!("stockroom_relay_published_events_total")
                .increment(read.events.len() as u64);
            tracing::debug!(
                count = read.events.len(),
                position = read.cursor.position,
                settled = read.settled,
                "published batch"
            );
        }
    }

    /// Hands every event to the producer in order, then waits until the
    /// broker acknowledged all of them.
    #[tracing::instrument(skip_all, fields(count = batch.len(), first_position = batch.first().map(|e| e.position)))]
    async fn publish(
        &self,
        producer: &FutureProducer,
        batch: &[RecordedEvent],
    ) -> Result<(), BusError> {
        let mut deliveries = Vec::with_capacity(batch.len());
        for event in batch {
            let category = StreamCategory::parse(&event.category).ok_or_else(|| {
                BusError::UnknownCategory {
                    category: event.category.clone(),
                    position: event.position,
                }
            })?;
            let topic = self.kafka.topic(category);
            let envelope = Envelope::from(event);
            let payload =
                serde_json::to_vec(&envelope).map_err(|source| BusError::BadEnvelope {
                    topic: topic.clone(),
                    partition: -1,
                    offset: event.position,
                    source,
                })?;
            let mut record = FutureRecord::to(&topic)
                .key(event.aggregate_id.as_str())
                .payload(&payload)
                .headers(envelope.headers());
            loop {
                match producer.send_result(record) {
                    Ok(delivery) => {
                        deliveries.push(delivery);
                        break;
                    }
                    Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                        record = back;
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                    Err((e, _)) => return Err(e.into()),
                }
            }
        }
        let acked = try_join_all(deliveries.into_iter().map(|d| async move {
            match d.await {
                Ok(Ok(_)) => Ok(()),
                Ok(Err((e, _))) => Err(e),
                Err(_) => Err(KafkaError::Canceled),
            }
        }));
        acked.await?;
        Ok(())
    }
}

async fn load_checkpoint(conn: &mut PgConnection) -> Result<Checkpoint, sqlx::Error> {
    let row = sqlx::query(
        "SELECT transaction_id::text::bigint AS transaction_id, position, settled \
         FROM relay_checkpoint",
    )
    .fetch_one(conn)
    .await?;
    Checkpoint::from_row(&row)
}

async fn save_checkpoint(
    conn: &mut PgConnection,
    checkpoint: Checkpoint,
    published: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "UPDATE relay_checkpoint SET transaction_id = $1::text::xid8, position = $2, \
         settled = GREATEST(settled, $4), published_events = published_events + $3, \
         updated_at = now()",
    )
    .bind(checkpoint.cursor.transaction_id.to_string())
    .bind(checkpoint.cursor.position)
    .bind(published)
    .bind(checkpoint.settled)
    .execute(conn)
    .await?;
    Ok(())
}

/// Prepares for a broker that lost its data (a fresh in-memory broker, a
/// recreated cluster): the relay publishes again the last `tail` events in
/// commit order (all of them when `None`), and stored Kafka offsets, which
/// pointed into the old topics, are forgotten. Stockroom's own workers follow
/// the log and are not affected; Kafka consumers skip what they processed
/// before, by event id. Returns how many events will be published again.
pub async fn republish(conn: &mut PgConnection, tail: Option<i64>) -> Result<i64, sqlx::Error> {
    let mut tx = conn.begin().await?;
    let start: Option<(i64, i64)> = match tail {
        None => None,
        Some(tail) => {
            sqlx::query_as(
                "SELECT transaction_id::text::bigint, position FROM events \
             ORDER BY transaction_id DESC, position DESC OFFSET $1 LIMIT 1",
            )
            .bind(tail.max(0))
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let (transaction_id, position) = start.unwrap_or((0, 0));
    sqlx::query(
        "UPDATE relay_checkpoint SET transaction_id = $1::text::xid8, position = $2, updated_at = now()",
    )
    .bind(transaction_id.to_string())
    .bind(position)
    .execute(&mut *tx)
    .await?;
    sqlx::query("DELETE FROM consumer_offsets")
        .execute(&mut *tx)
        .await?;
    let again: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE (transaction_id, position) > ($1::text::xid8, $2)",
    )
    .bind(transaction_id.to_string())
    .bind(position)
    .fetch_one(&mut *tx)
    .await?;
    tx.commit().await?;
    Ok(again)
}
