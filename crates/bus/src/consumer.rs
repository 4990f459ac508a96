//! The Kafka source: a consumer-group member that reads in batches and
//! resumes from offsets stored in Postgres with the effects they account for.
//! Optional for Stockroom's own workers (`--source kafka`); the default is
//! the log ([`crate::log_source`]).

use std::future::Future;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext, StreamConsumer};
use rdkafka::error::KafkaResult;
use rdkafka::message::Message;
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientContext, Offset, TopicPartitionList};
use sqlx::postgres::PgConnectOptions;
use sqlx::{Connection, PgConnection, PgPool};
use store::subscription::Lease;
use tokio::sync::watch;

use crate::handler::{Delivered, HandlerError, Malformed};
use crate::log_source::LogSettings;
use crate::offsets::{self, OffsetMap};
use crate::run::pause_unless_stopped;
use crate::source::{Batch, EventSource, Progress};
use crate::{parking, BusError, Envelope, KafkaConfig};

/// What one poll returned, before it becomes a [`Batch`].
#[derive(Debug, Default)]
struct Collected {
    messages: Vec<Delivered>,
    malformed: Vec<Malformed>,
    next_offsets: OffsetMap,
}

impl Collected {
    fn len(&self) -> usize {
        self.messages.len() + self.malformed.len()
    }

    fn push<M: Message>(&mut self, message: &M) {
        let (topic, partition, offset) = (
            message.topic().to_owned(),
            message.partition(),
            message.offset(),
        );
        self.next_offsets
            .insert((topic.clone(), partition), offset + 1);
        let payload = message.payload().unwrap_or_default();
        match serde_json::from_slice::<Envelope>(payload) {
            Ok(envelope) => self.messages.push(Delivered {
                topic,
                partition,
                offset,
                envelope,
            }),
            Err(e) => self.malformed.push(Malformed {
                topic,
                partition,
                offset,
                raw: String::from_utf8_lossy(payload).into_owned(),
                error: e.to_string(),
            }),
        }
    }

    fn into_batch(self) -> Batch {
        Batch {
            messages: self.messages,
            malformed: self.malformed,
            progress: Progress::Offsets(self.next_offsets),
        }
    }
}

/// Adds messages from `recv` to `collected` until `max` are there or
/// `deadline` passes. An error ends the batch *with* what was collected:
/// dropping it would let the next batch store higher offsets past the
/// dropped messages, losing them for good.
async fn fill<M, F, Fut>(
    collected: &mut Collected,
    max: usize,
    deadline: tokio::time::Instant,
    mut recv: F,
) where
    M: Message,
    F: FnMut() -> Fut,
    Fut: Future<Output = KafkaResult<M>>,
{
    while collected.len() < max {
        match tokio::time::timeout_at(deadline, recv()).await {
            Ok(Ok(message)) => collected.push(&message),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, kept = collected.len(), "poll failed mid-batch; handing over what was read");
                break;
            }
            Err(_) => break,
        }
    }
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

/// Batch size, how long to wait to fill one, and how to wait for the lease.
#[derive(Debug, Clone, Copy)]
pub struct BatchSettings {
    /// Most messages per batch.
    pub max_messages: usize,
    /// How long to keep collecting after the first message.
    pub linger: Duration,
    /// How often a member kept out by a log follower tries the lease again.
    pub standby_retry: Duration,
    /// How often a member looks, while no message arrives, whether the relay
    /// has settled past what it last handled.
    pub settle_poll: Duration,
    /// How often a member checks it still holds its share of the lease.
    pub lease_check: Duration,
}

impl Default for BatchSettings {
    fn default() -> Self {
        let log = LogSettings::default();
        Self {
            max_messages: 500,
            linger: Duration::from_millis(20),
            standby_retry: log.standby_retry,
            settle_poll: Duration::from_millis(100),
            lease_check: log.lease_check,
        }
    }
}

/// A consumer-group member reading in batches. It joins its group only while
/// it holds a share of its subscription's lease, so it never runs beside a
/// log follower of the same subscription (see [`Lease`]).
pub struct BatchConsumer {
    consumer: StreamConsumer<StoredOffsets>,
    group: String,
    subscription: String,
    topics: Vec<String>,
    connect: PgConnectOptions,
    settings: BatchSettings,
    lease: Option<Lease>,
    standing_by: bool,
    /// Which topic each category's events belong on.
    kafka: KafkaConfig,
    /// The connection batches are checked against the log on, kept between
    /// them; dropped after a failure.
    log: Option<PgConnection>,
    /// The highest position handed over that the relay had perhaps not yet
    /// settled: a message can arrive before the relay records it as
    /// published, and a projection publishes no position past the relay's.
    unsettled: Option<i64>,
}

impl BatchConsumer {
    /// A member of `group` for `subscription` (the handler's consumer name),
    /// reading `topics` once it holds its share of the lease.
    pub fn new(
        pool: PgPool,
        kafka: &KafkaConfig,
        group: &str,
        subscription: &str,
        topics: &[String],
        settings: BatchSettings,
    ) -> Result<Self, BusError> {
        let connect = pool.connect_options().as_ref().clone();
        let context = StoredOffsets {
            db: connect.clone(),
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
        Ok(Self {
            consumer,
            group: group.to_owned(),
            subscription: subscription.to_owned(),
            topics: topics.to_vec(),
            connect,
            settings,
            lease: None,
            standing_by: false,
            kafka: kafka.clone(),
            log: None,
            unsettled: None,
        })
    }

    /// Holds a share of the lease, and the group subscription with it.
    /// `false` after a retry interval while a log follower holds the lease.
    async fn hold_lease(&mut self, shutdown: &mut watch::Receiver<bool>) -> Result<bool, BusError> {
        if let Some(lease) = self.lease.as_mut() {
            if lease.held(self.settings.lease_check).await {
                return Ok(true);
            }
            tracing::warn!(group = %self.group, "lost the lease connection; leaving the group");
            self.consumer.unsubscribe();
            self.lease = None;
        }
        let Some(lease) = Lease::try_acquire_shared(&self.connect, &self.subscription).await?
        else {
            if !self.standing_by {
                tracing::info!(group = %self.group, subscription = %self.subscription, "a log follower holds the subscription; standing by");
                self.standing_by = true;
            }
            pause_unless_stopped(self.settings.standby_retry, shutdown).await;
            return Ok(false);
        };
        let names: Vec<&str> = self.topics.iter().map(String::as_str).collect();
        self.consumer.subscribe(&names)?;
        self.lease = Some(lease);
        self.standing_by = false;
        Ok(true)
    }

    /// The batch as the log of record holds it (see [`crate::vouch`]). On
    /// failure the batch is lost to this member, so it leaves the group
    /// while it retries: its partitions are read again from the stored
    /// offsets, nothing past them is skipped.
    async fn vouch(&mut self, batch: Batch) -> Result<Batch, BusError> {
        let mut conn = match self.log.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&self.connect).await?,
        };
        match crate::vouch::against_log(&mut conn, &self.kafka, &self.group, batch).await {
            Ok(batch) => {
                self.log = Some(conn);
                Ok(batch)
            }
            Err(e) => {
                self.consumer.unsubscribe();
                if let Some(lease) = self.lease.take() {
                    lease.release().await;
                }
                Err(e.into())
            }
        }
    }

    /// Whether the relay has settled through `position`, read on the kept
    /// log connection.
    async fn relay_settled_through(&mut self, position: i64) -> Result<bool, BusError> {
        let mut conn = match self.log.take() {
            Some(conn) => conn,
            None => PgConnection::connect_with(&self.connect).await?,
        };
        let settled: Option<i64> =
            sqlx::query_scalar("SELECT settled FROM subscriptions WHERE name = 'relay'")
                .fetch_optional(&mut conn)
                .await?;
        self.log = Some(conn);
        Ok(settled.is_some_and(|settled| settled >= position))
    }

    /// The consumer group.
    pub fn group(&self) -> &str {
        &self.group
    }
}

impl EventSource for BatchConsumer {
    async fn next_batch(
        &mut self,
        shutdown: &mut watch::Receiver<bool>,
    ) -> Result<Option<Batch>, BusError> {
        loop {
            if *shutdown.borrow() {
                return Ok(None);
            }
            if self.hold_lease(shutdown).await? {
                break;
            }
        }
        let mut collected = Collected::default();
        let first = loop {
            tokio::select! {
                first = self.consumer.recv() => break first?,
                _ = shutdown.changed() => return Ok(None),
                () = tokio::time::sleep(self.settings.settle_poll), if self.unsettled.is_some() => {
                    let through = self.unsettled.unwrap_or_default();
                    if self.relay_settled_through(through).await? {
                        // An empty batch: the handler publishes the position
                        // it could not publish with the last one.
                        self.unsettled = None;
                        return Ok(Some(Collected::default().into_batch()));
                    }
                }
            }
        };
        collected.push(&first);
        drop(first);
        let deadline = tokio::time::Instant::now() + self.settings.linger;
        let consumer = &self.consumer;
        fill(&mut collected, self.settings.max_messages, deadline, || {
            consumer.recv()
        })
        .await;
        let batch = self.vouch(collected.into_batch()).await?;
        let highest = batch
            .messages
            .iter()
            .map(|m| m.envelope.global_position)
            .max();
        self.unsettled = self.unsettled.max(highest);
        Ok(Some(batch))
    }

    async fn record(
        &self,
        conn: &mut PgConnection,
        consumer: &str,
        batch: &Batch,
    ) -> Result<(), HandlerError> {
        for bad in &batch.malformed {
            parking::park_malformed(conn, consumer, bad).await?;
        }
        if let Progress::Offsets(next) = &batch.progress {
            offsets::store(conn, &self.group, next, &batch.messages).await?;
        }
        Ok(())
    }

    fn committed(&mut self, _batch: &Batch) {}

    fn fenced(&mut self) {}

    async fn close(&mut self) {
        // Leaves the group cleanly so partitions move at once.
        self.consumer.unsubscribe();
        if let Some(lease) = self.lease.take() {
            lease.release().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use rdkafka::error::KafkaError;
    use rdkafka::message::{OwnedMessage, Timestamp};

    use super::*;

    fn message(offset: i64) -> OwnedMessage {
        OwnedMessage::new(
            Some(b"not an envelope".to_vec()),
            None,
            "t.orders".to_owned(),
            Timestamp::NotAvailable,
            0,
            offset,
            None,
        )
    }

    #[tokio::test]
    async fn an_error_mid_batch_keeps_what_was_collected() {
        let mut script = vec![
            Ok(message(1)),
            Ok(message(2)),
            Err(KafkaError::NoMessageReceived),
            Ok(message(3)),
        ]
        .into_iter();
        let mut collected = Collected::default();
        collected.push(&message(0));
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        fill(&mut collected, 100, deadline, || {
            let next = script.next().expect("read past the script");
            async move { next }
        })
        .await;
        let batch = collected.into_batch();
        assert_eq!(
            batch.malformed.len(),
            3,
            "messages before the error are kept"
        );
        let Progress::Offsets(next) = batch.progress else {
            panic!("a Kafka batch records offsets")
        };
        assert_eq!(next[&("t.orders".to_owned(), 0)], 3);
    }
}
