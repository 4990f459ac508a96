//! A consumer-group member that reads in batches and resumes from offsets
//! stored in Postgres, plus the loop our workers run on it: deduplicate by
//! event id, apply a batch in one transaction with its offsets, isolate and
//! park an event that keeps failing.

use std::collections::HashMap;
use std::future::Future;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use thiserror::Error;
use tokio::sync::watch;
use uuid::Uuid;

use crate::offsets::{self, OffsetMap};
use crate::{parking, BusError, Envelope, KafkaConfig};

/// One decoded message.
#[derive(Debug, Clone)]
pub struct Delivered {
    /// Topic it came from.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The envelope.
    pub envelope: Envelope,
}

/// A message whose value is not an envelope; parked, never retried.
#[derive(Debug, Clone)]
pub struct Malformed {
    /// Topic.
    pub topic: String,
    /// Partition.
    pub partition: i32,
    /// Offset.
    pub offset: i64,
    /// The raw value, lossily as text.
    pub raw: String,
    /// Why it could not be decoded.
    pub error: String,
}

/// What one poll returned.
#[derive(Debug, Default)]
pub struct Batch {
    /// Decoded messages, in partition order.
    pub messages: Vec<Delivered>,
    /// Undecodable messages.
    pub malformed: Vec<Malformed>,
    next_offsets: OffsetMap,
}

/// Seeks newly assigned partitions to the offsets stored in Postgres.
struct StoredOffsets {
    db: PgConnectOptions,
    group: String,
}

impl StoredOffsets {
    /// Loads offsets synchronously, as librdkafka's callback requires. The
    /// query runs on its own thread, runtime and connection: blocking the
    /// caller (often a runtime worker) while a task on the same runtime
    /// drives the query can deadlock when every worker is in a callback.
    fn load_blocking(&self, partitions: &[(String, i32)]) -> Result<OffsetMap, String> {
        std::thread::scope(|s| {
            s.spawn(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| e.to_string())?;
                runtime.block_on(async {
                    let mut conn = PgConnection::connect_with(&self.db)
                        .await
                        .map_err(|e| e.to_string())?;
                    let loaded = offsets::load(&mut conn, &self.group, partitions).await;
                    let _ = conn.close().await;
                    loaded.map_err(|e| e.to_string())
                })
            })
            .join()
            .unwrap_or_else(|_| Err("offset loader panicked".to_owned()))
        })
    }
}

impl ClientContext for StoredOffsets {}

impl ConsumerContext for StoredOffsets {
    fn rebalance(
        &self,
        consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => {
                let wanted: Vec<(String, i32)> = tpl
                    .elements()
                    .iter()
                    .map(|e| (e.topic().to_owned(), e.partition()))
                    .collect();
                match self.load_blocking(&wanted) {
                    Ok(stored) => {
                        for ((topic, partition), offset) in &stored {
                            let _ = tpl.set_partition_offset(
                                topic,
                                *partition,
                                Offset::Offset(*offset),
                            );
                        }
                    }
                    Err(e) => tracing::error!(
                        error = %e,
                        "cannot load stored offsets; resuming from the earliest offset, duplicates are dropped by event id"
                    ),
                }
                if let Err(e) = consumer.assign(tpl) {
                    tracing::error!(error = %e, "assign failed");
                }
                tracing::info!(group = %self.group, partitions = ?wanted, "partitions assigned");
            }
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => {
                if let Err(e) = consumer.unassign() {
                    tracing::error!(error = %e, "unassign failed");
                }
                tracing::info!(group = %self.group, "partitions revoked");
            }
            other => tracing::error!(?other, "rebalance error"),
        }
    }
}

/// Batch size and how long to wait to fill one.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Most messages per batch.
    pub max_messages: usize,
    /// How long to keep collecting after the first message.
    pub linger: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        Self {
            max_messages: 500,
            linger: Duration::from_millis(20),
        }
    }
}

/// A consumer-group member reading in batches.
pub struct BatchConsumer {
    consumer: StreamConsumer<StoredOffsets>,
    group: String,
    settings: BatchSettings,
}

impl BatchConsumer {
    /// Joins `group` and subscribes to `topics`.
    pub fn subscribe(
        pool: PgPool,
        kafka: &KafkaConfig,
        group: &str,
        topics: &[String],
        settings: BatchSettings,
    ) -> Result<Self, BusError> {
        let context = StoredOffsets {
            db: pool.connect_options().as_ref().clone(),
            group: group.to_owned(),
        };
        let mut client = kafka.client();
        if let Some(instance) = &kafka.instance_id {
            client.set("group.instance.id", format!("{group}-{instance}"));
        }
        let consumer: StreamConsumer<StoredOffsets> = client
            .set("group.id", group)
            .set("enable.auto.commit", "false")
            .set("auto.offset.reset", "earliest")
            .set("session.timeout.ms", "10000")
            .set("heartbeat.interval.ms", "1000")
            .set("partition.assignment.strategy", "range")
            // A topic created a moment before subscribing may be missing from
            // the first metadata; look again soon rather than in 5 minutes.
            .set("topic.metadata.refresh.interval.ms", "2000")
            // Answer a fetch as soon as anything is there: read-your-writes
            // latency, not throughput, is what a long wait would cost.
            .set("fetch.wait.max.ms", "10")
            .create_with_context(context)?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer.subscribe(&names)?;
        Ok(Self {
            consumer,
            group: group.to_owned(),
            settings,
        })
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }

    /// Waits for at least one message, then collects more for up to the linger.
    pub async fn next_batch(&self) -> Result<Batch, BusError> {
        let mut batch = Batch::default();
        let first = self.consumer.recv().await?;
        self.push(&mut batch, &first);
        drop(first);
        let deadline = tokio::time::Instant::now() + self.settings.linger;
        while batch.next_offsets.len() + batch.messages.len() < self.settings.max_messages * 2
            && batch.messages.len() + batch.malformed.len() < self.settings.max_messages
        {
            match tokio::time::timeout_at(deadline, self.consumer.recv()).await {
                Ok(message) => {
                    let message = message?;
                    self.push(&mut batch, &message);
                }
                Err(_) => break,
            }
        }
        Ok(batch)
    }

    fn push<M: Message>(&self, batch: &mut Batch, message: &M) {
        let (topic, partition, offset) = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        batch
            .next_offsets
            .insert((topic.clone(), partition), offset + 1);
        let payload = message.payload().unwrap_or_default();
        match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) => batch.messages.push(Delivered {
                topic,
                partition,
                offset,
                envelope,
            }),
            Err(e) => batch.malformed.push(Malformed {
                topic,
                partition,
                offset,
                raw: String::from_utf8_lossy(payload).into_owned(),
                error: e.to_string(),
            }),
        }
    }

    /// Parks the batch's malformed messages under `consumer` and stores the
    /// batch's offsets, in the caller's transaction.
    pub async fn finish(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
        batch: &Batch,
    ) -> Result<(), sqlx::Error> {
        for bad in &batch.malformed {
            parking::park_malformed(conn, consumer, bad).await?;
        }
        offsets::store(conn, &self.group, &batch.next_offsets).await
    }

    /// Leaves the group cleanly so partitions move at once.
    pub fn close(&self) -> KafkaResult<()> {
        self.consumer.unsubscribe();
        Ok(())
    }
}

/// A handler failure, classified for the retry loop.
#[derive(Debug, Error)]
pub enum HandlerError {
    /// Infrastructure trouble (connection lost, deadlock): retried without limit.
    #[error("transient failure")]
    Transient(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The event itself cannot be handled: retried a few times, then parked.
    #[error("event cannot be handled")]
    Poison(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl From<sqlx::Error> for HandlerError {
    fn from(e: sqlx::Error) -> Self {
        if is_transient(&e) {
            Self::Transient(Box::new(e))
        } else {
            Self::Poison(Box::new(e))
        }
    }
}

/// Whether a database error is worth retrying as is.
pub fn is_transient(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::PoolClosed
        | sqlx::Error::WorkerCrashed
        | sqlx::Error::Protocol(_)
        | sqlx::Error::Tls(_) => true,
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            // 08: connection, 40: serialization/deadlock, 53: resources,
            // 57: operator intervention (shutdown, restart).
            ["08", "40", "53", "57"]
                .iter()
                .any(|class| code.starts_with(class))
        }),
        _ => false,
    }
}

/// Work applied to a batch of fresh (not yet processed) events.
pub trait BatchHandler: Send + Sync {
    /// The name under which processed events and parked ones are recorded.
    fn consumer_name(&self) -> &str;

    /// Prepares the batch's transaction (locks, search path); runs first.
    fn before_batch(
        &self,
        conn: &mut PgConnection,
    ) -> impl Future<Output = Result<(), HandlerError>> + Send {
        let _ = conn;
        async { Ok(()) }
    }

    /// Applies the events in order inside `conn`'s transaction.
    fn apply<'a>(
        &'a self,
        conn: &'a mut PgConnection,
        events: &'a [Delivered],
    ) -> impl Future<Output = Result<(), HandlerError>> + Send + 'a;
}

/// Retry limits of [`run`].
#[derive(Debug, Clone, Copy)]
pub struct RunSettings {
    /// Failures of one event before it is parked.
    pub max_attempts: u32,
    /// Pause after a failure, doubled up to 30 s for transient ones.
    pub backoff: Duration,
}

impl Default for RunSettings {
    fn default() -> Self {
        Self {
            max_attempts: 3,
            backoff: Duration::from_millis(100),
        }
    }
}

/// Consumes until `shutdown` turns true. Each batch runs in one transaction:
/// drop already-processed events, apply the rest, store offsets, commit. If
/// that fails for a reason other than infrastructure, the batch is replayed
/// one event per transaction, so one poison event is parked after
/// `max_attempts` and the others go through.
pub async fn run<H: BatchHandler>(
    consumer: &BatchConsumer,
    pool: &PgPool,
    handler: &H,
    settings: RunSettings,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let mut failures_in_a_row = 0u32;
    loop {
        let batch = tokio::select! {
            batch = consumer.next_batch() => batch,
            _ = shutdown.changed() => break,
        };
        let batch = match batch {
            Ok(batch) => batch,
            Err(e) => {
                tracing::warn!(error = %store::error_chain(&e), "poll failed");
                tokio::time::sleep(settings.backoff).await;
                continue;
            }
        };
        loop {
            match apply_batch(consumer, pool, handler, &batch).await {
                Ok(()) => {
                    failures_in_a_row = 0;
                    break;
                }
                Err(HandlerError::Transient(e)) => {
                    failures_in_a_row += 1;
                    let pause = settings.backoff * 2u32.pow(failures_in_a_row.min(8));
                    tracing::warn!(error = %store::error_chain(&*e), failures_in_a_row, "batch failed; retrying");
                    tokio::time::sleep(pause.min(Duration::from_secs(30))).await;
                }
                Err(HandlerError::Poison(e)) => {
                    tracing::warn!(error = %store::error_chain(&*e), "batch failed; isolating events");
                    isolate(consumer, pool, handler, &batch, settings).await?;
                    break;
                }
            }
        }
        if *shutdown.borrow() {
            break;
        }
    }
    consumer.close()?;
    Ok(())
}

async fn apply_batch<H: BatchHandler>(
    consumer: &BatchConsumer,
    pool: &PgPool,
    handler: &H,
    batch: &Batch,
) -> Result<(), HandlerError> {
    let mut tx = pool.begin().await?;
    handler.before_batch(&mut tx).await?;
    let fresh = parking::claim(&mut tx, handler.consumer_name(), &batch.messages).await?;
    handler.apply(&mut tx, &fresh).await?;
    consumer
        .finish(&mut tx, handler.consumer_name(), batch)
        .await?;
    tx.commit().await?;
    metrics::counter!("stockroom_consumer_events_total", "consumer" => handler.consumer_name().to_owned())
        .increment(fresh.len() as u64);
    Ok(())
}

/// Replays a failed batch one event per transaction, parking what keeps failing.
async fn isolate<H: BatchHandler>(
    consumer: &BatchConsumer,
    pool: &PgPool,
    handler: &H,
    batch: &Batch,
    settings: RunSettings,
) -> Result<(), BusError> {
    let mut attempts: HashMap<Uuid, u32> = HashMap::new();
    for event in &batch.messages {
        loop {
            let result: Result<(), HandlerError> = async {
                let mut tx = pool.begin().await?;
                handler.before_batch(&mut tx).await?;
                let fresh = parking::claim(
                    &mut tx,
                    handler.consumer_name(),
                    std::slice::from_ref(event),
                )
                .await?;
                handler.apply(&mut tx, &fresh).await?;
                tx.commit().await?;
                Ok(())
            }
            .await;
            match result {
                Ok(()) => break,
                Err(HandlerError::Transient(e)) => {
                    tracing::warn!(error = %store::error_chain(&*e), "event failed transiently; retrying");
                    tokio::time::sleep(settings.backoff).await;
                }
                Err(HandlerError::Poison(e)) => {
                    let n = attempts.entry(event.envelope.event_id).or_default();
                    *n += 1;
                    if *n >= settings.max_attempts {
                        let error = store::error_chain(&*e);
                        tracing::error!(event_id = %event.envelope.event_id, position = event.envelope.global_position, %error, "parking event");
                        let mut tx = pool.begin().await?;
                        parking::park(&mut tx, handler.consumer_name(), event, &error, *n as i32)
                            .await?;
                        tx.commit().await?;
                        break;
                    }
                    tokio::time::sleep(settings.backoff).await;
                }
            }
        }
    }
    let mut tx = pool.begin().await?;
    consumer
        .finish(&mut tx, handler.consumer_name(), batch)
        .await?;
    tx.commit().await?;
    Ok(())
}
