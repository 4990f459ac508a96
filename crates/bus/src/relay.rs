//! The transactional-outbox relay: publishes the committed log to Kafka in
//! commit order, and records progress only after the broker acknowledged.
//!
//! The relay is a subscriber like the others: it follows the log through a
//! [`LogSource`] under the `relay` subscription's lease and moves its
//! checkpoint by compare-and-set, so one relay publishes at a time, a
//! standby takes over when it dies, and a checkpoint moved by someone else
//! (`stockroom republish`) fences it off instead of being overwritten.

use std::time::{Duration, Instant};

use domain::StreamCategory;
use futures::future::try_join_all;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{FutureProducer, FutureRecord, Producer};
use sqlx::{Connection, PgConnection, PgPool, Row};
use store::{error_chain, RecordedEvent};
use tokio::sync::watch;

use crate::admin::ensure_topics;
use crate::handler::HandlerError;
use crate::log_source::{LogSettings, LogSource};
use crate::producer::{idempotent_producer, ProducerSettings};
use crate::run::pause_unless_stopped;
use crate::source::{Batch, EventSource};
use crate::{BusError, KafkaConfig};

/// The relay's subscription: its checkpoint row and its lease.
pub const RELAY_SUBSCRIPTION: &str = "relay";

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

impl RelayConfig {
    /// How the relay's [`LogSource`] reads, waits and stands by.
    fn log_settings(&self) -> LogSettings {
        LogSettings {
            batch_size: self.batch_size,
            poll_interval: self.poll_interval,
            linger: self.read_linger,
            standby_retry: self.standby_retry,
            ..LogSettings::default()
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

/// Measures the relay's lag from its settled position (the cursor may sit
/// at a horizon between events, see [`store::CommitCursor`]).
pub async fn relay_lag(conn: &mut PgConnection) -> Result<RelayLag, sqlx::Error> {
    let row = sqlx::query(
        "SELECT count(*) AS events, \
                coalesce(extract(epoch FROM now() - min(e.occurred_at))::float8, 0) AS oldest \
         FROM events e, subscriptions s \
         WHERE s.name = $1 AND e.position > s.settled",
    )
    .bind(RELAY_SUBSCRIPTION)
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
    pool: PgPool,
    kafka: KafkaConfig,
    config: RelayConfig,
}

impl Relay {
    /// A relay reading from `pool`'s database and publishing to `kafka`.
    pub fn new(pool: PgPool, kafka: KafkaConfig, config: RelayConfig) -> Self {
        Self {
            pool,
            kafka,
            config,
        }
    }

    /// Runs until `shutdown` turns true: stands by, leads, recovers from
    /// database and broker failures by starting over from the checkpoint.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) -> Result<(), BusError> {
        metrics::counter!("stockroom_relay_published_events_total").increment(0);
        let producer = idempotent_producer(&self.kafka, &self.config.producer)?;
        let mut source = LogSource::new(
            self.pool.clone(),
            RELAY_SUBSCRIPTION,
            &[],
            self.config.log_settings(),
        );
        let mut failures = 0u32;
        while !*shutdown.borrow() {
            let result = match ensure_topics(&self.kafka).await {
                Ok(()) => self.follow(&producer, &mut source, &mut shutdown).await,
                Err(e) => Err(e),
            };
            let Err(e) = result else { break };
            failures += 1;
            tracing::error!(error = %error_chain(&e), failures, "relay failed; starting over from the checkpoint");
            source.start_over();
            let pause = Duration::from_millis(200 * u64::from(failures.min(25)));
            if !pause_unless_stopped(pause, &mut shutdown).await {
                break;
            }
        }
        source.close().await;
        // Whatever was handed to the client is flushed; progress past it was
        // never recorded, so the next relay republishes it at worst.
        let _ = producer.flush(Duration::from_secs(5));
        tracing::info!("relay stopped");
        Ok(())
    }

    /// Publishes batch after batch until shutdown (`Ok`) or a failure.
    async fn follow(
        &self,
        producer: &FutureProducer,
        source: &mut LogSource,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<(), BusError> {
        let mut last_lag = Instant::now() - self.config.lag_interval;
        loop {
            if last_lag.elapsed() >= self.config.lag_interval {
                self.report_lag().await?;
                last_lag = Instant::now();
            }
            let Some(batch) = source.next_batch(shutdown).await? else {
                return Ok(());
            };
            let mut stop = shutdown.clone();
            tokio::select! {
                published = self.publish(producer, source.in_flight_events(), &batch) => published?,
                // Nothing recorded: whoever continues publishes it again.
                _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
            }
            let mut conn = self.pool.acquire().await?;
            match source.record(&mut conn, RELAY_SUBSCRIPTION, &batch).await {
                Ok(()) => source.committed(&batch),
                // Moved by a republish or by another relay that took over:
                // continue from wherever it is now.
                Err(HandlerError::Fenced(_)) => {
                    source.fenced();
                    continue;
                }
                Err(e) => return Err(BusError::Handler(e)),
            }
            metrics::counter!("stockroom_relay_published_events_total")
                .increment(batch.messages.len() as u64);
        }
    }

    async fn report_lag(&self) -> Result<(), BusError> {
        let mut conn = self.pool.acquire().await?;
        let lag = relay_lag(&mut conn).await?;
        record_lag(lag);
        if lag.events > 0 {
            tracing::info!(
                lag_events = lag.events,
                oldest_seconds = lag.oldest_seconds,
                "relay lag"
            );
        }
        Ok(())
    }

    /// Hands every event to the producer in order, then waits until the
    /// broker acknowledged all of them. `batch` holds the envelopes the
    /// source made of `events`, one each, in the same order.
    #[tracing::instrument(skip_all, fields(count = events.len(), first_position = events.first().map(|e| e.position)))]
    async fn publish(
        &self,
        producer: &FutureProducer,
        events: &[RecordedEvent],
        batch: &Batch,
    ) -> Result<(), BusError> {
        let mut deliveries = Vec::with_capacity(events.len());
        for (event, delivered) in events.iter().zip(&batch.messages) {
            let category = StreamCategory::parse(&event.category).ok_or_else(|| {
                BusError::UnknownCategory {
                    category: event.category.clone(),
                    position: event.position,
                }
            })?;
            let topic = self.kafka.topic(category);
            let envelope = &delivered.envelope;
            let payload = envelope.to_json().map_err(|source| BusError::BadEnvelope {
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

/// Prepares for a broker that lost its data (a fresh in-memory broker, a
/// recreated cluster): the relay publishes again the last `tail` events in
/// commit order (all of them when `None`). Stored Kafka offsets pointed into
/// the old topics and start over at 0, but each partition keeps the last
/// event its group handled, so a `--source kafka` worker skips what it
/// handled before however old it is. Refused while anything follows the log
/// (a relay would publish its batch in flight to the new broker before it
/// saw the rewind, out of order; a consumer would store old offsets again):
/// every lease of the database must be free, and the relay's is held for the
/// rewind. Returns how many events will be published again.
pub async fn republish(conn: &mut PgConnection, tail: Option<i64>) -> Result<i64, BusError> {
    let mut tx = conn.begin().await?;
    let relay_free: bool = sqlx::query_scalar(
        "SELECT pg_try_advisory_xact_lock(hashtextextended('stockroom-subscription:' || $1, 0))",
    )
    .bind(RELAY_SUBSCRIPTION)
    .fetch_one(&mut *tx)
    .await?;
    let holders: Vec<i32> = sqlx::query_scalar(
        "SELECT DISTINCT pid FROM pg_locks \
         WHERE locktype = 'advisory' AND granted AND pid <> pg_backend_pid() \
           AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) \
         ORDER BY pid",
    )
    .fetch_all(&mut *tx)
    .await?;
    if !relay_free || !holders.is_empty() {
        return Err(BusError::FollowersRunning { pids: holders });
    }
    // The rewind may only go back, never forward past what the relay has
    // not published, and only to a point below the horizon: a transaction
    // still open there would commit behind the cursor and never be read.
    let current: Option<(i64, i64, i64)> = sqlx::query_as(
        "SELECT transaction_id::text::bigint, position, settled FROM subscriptions WHERE name = $1",
    )
    .bind(RELAY_SUBSCRIPTION)
    .fetch_optional(&mut *tx)
    .await?;
    let start: (i64, i64) = match tail {
        None => (0, 0),
        Some(tail) => sqlx::query_as(
            "SELECT transaction_id::text::bigint, position FROM events \
             WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot()) \
             ORDER BY transaction_id DESC, position DESC OFFSET $1 LIMIT 1",
        )
        .bind(tail.max(0))
        .fetch_optional(&mut *tx)
        .await?
        .unwrap_or((0, 0)),
    };
    let (transaction_id, position) = match current {
        Some((tx_id, pos, _)) => start.min((tx_id, pos)),
        None => start,
    };
    // The settled promise goes back too (events past the rewind are not on
    // the new broker, and Kafka-fed projections cap their positions with
    // it), never forward.
    let before_first_again: Option<i64> = sqlx::query_scalar(
        "SELECT min(position) - 1 FROM events \
         WHERE (transaction_id, position) > ($1::text::xid8, $2)",
    )
    .bind(transaction_id.to_string())
    .bind(position)
    .fetch_one(&mut *tx)
    .await?;
    let was = current.map_or(0, |(_, _, settled)| settled);
    let settled = before_first_again.map_or(was, |p| p.min(was));
    sqlx::query(
        "INSERT INTO subscriptions (name, transaction_id, position, settled) \
         VALUES ($1, $2::text::xid8, $3, $4) \
         ON CONFLICT (name) DO UPDATE SET transaction_id = EXCLUDED.transaction_id, \
             position = EXCLUDED.position, settled = EXCLUDED.settled, updated_at = now()",
    )
    .bind(RELAY_SUBSCRIPTION)
    .bind(transaction_id.to_string())
    .bind(position)
    .bind(settled)
    .execute(&mut *tx)
    .await?;
    sqlx::query("UPDATE consumer_offsets SET next_offset = 0, updated_at = now()")
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
