//! The reserver process: the reservation subscription, the expirer and the
//! janitor, supervised together.

use std::time::Duration;

use bus::consumer::{BatchConsumer, BatchSettings};
use bus::run::RunSettings;
use bus::{BusError, KafkaConfig, LogSettings, LogSource, SourceKind};
use domain::StreamCategory;
use sqlx::PgPool;
use store::retention::Retention;
use store::{Notifier, RetryPolicy};
use supervisor::{Stopped, Supervisor};
use tokio::sync::watch;

use crate::handler::{ReservationHandler, CONSUMER};
use crate::{expirer, janitor};

/// Reserver settings.
#[derive(Debug, Clone)]
pub struct ReserverConfig {
    /// Where order events come from.
    pub source: SourceKind,
    /// Reading the log.
    pub log: LogSettings,
    /// Consumer group id, Kafka only.
    pub group: String,
    /// How long a confirmed order may stay unpaid (`STOCKROOM_PAYMENT_TIMEOUT`).
    pub payment_timeout: Duration,
    /// How orders are spread over locations (`STOCKROOM_ALLOCATION`).
    pub allocation: domain::allocation::Strategy,
    /// How often the expirers look for due orders and holds.
    pub expiry_interval: Duration,
    /// Batch size and linger, Kafka only.
    pub batch: BatchSettings,
    /// Retry and parking limits.
    pub run: RunSettings,
    /// How commands that lose a race are retried.
    pub retry: RetryPolicy,
    /// How long bookkeeping rows are kept.
    pub retention: Retention,
    /// How often rows past their retention are purged.
    pub purge_interval: Duration,
}

impl Default for ReserverConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::default(),
            log: LogSettings {
                batch_size: 100,
                ..LogSettings::default()
            },
            group: "stockroom-reserver".to_owned(),
            payment_timeout: Duration::from_secs(15 * 60),
            allocation: domain::allocation::Strategy::default(),
            expiry_interval: Duration::from_secs(1),
            batch: BatchSettings {
                max_messages: 100,
                linger: Duration::from_millis(5),
                ..BatchSettings::default()
            },
            run: RunSettings::default(),
            retry: RetryPolicy::default(),
            retention: Retention::default(),
            purge_interval: Duration::from_secs(600),
        }
    }
}

/// Runs the reservation subscription and the expirer until `shutdown` turns
/// true or one of them fails (which stops the other).
pub async fn run(
    pool: PgPool,
    kafka: KafkaConfig,
    config: ReserverConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let mut supervisor = Supervisor::new(shutdown);
    let notifier = Notifier::start(&pool, supervisor.stop_signal());
    supervisor.spawn(
        "expirer",
        expirer::run(
            pool.clone(),
            config.expiry_interval,
            config.retry,
            notifier.clone(),
            supervisor.stop_signal(),
        ),
    );
    supervisor.spawn(
        "janitor",
        janitor::run(
            pool.clone(),
            config.retention,
            config.purge_interval,
            supervisor.stop_signal(),
        ),
    );
    let stop = supervisor.stop_signal();
    supervisor.spawn("reservations", reserve(pool, kafka, config, notifier, stop));
    supervisor.wait().await
}

async fn reserve(
    pool: PgPool,
    kafka: KafkaConfig,
    config: ReserverConfig,
    notifier: Notifier,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let handler = ReservationHandler {
        policy: crate::Policy {
            payment_timeout: chrono::Duration::from_std(config.payment_timeout)
                .unwrap_or(chrono::Duration::MAX),
            allocation: config.allocation,
        },
        notifier,
    };
    tracing::info!(source = %config.source, "reserver started");
    match config.source {
        SourceKind::Log => {
            let categories = [StreamCategory::Order.as_str()];
            let mut source = LogSource::new(pool.clone(), CONSUMER, &categories, config.log);
            bus::run::run(&mut source, &pool, &handler, config.run, shutdown).await
        }
        SourceKind::Kafka => {
            bus::admin::ensure_topics(&kafka).await?;
            let topics = vec![kafka.topic(StreamCategory::Order)];
            let mut source = BatchConsumer::new(
                pool.clone(),
                &kafka,
                &config.group,
                CONSUMER,
                &topics,
                config.batch,
            )?;
            bus::run::run(&mut source, &pool, &handler, config.run, shutdown).await
        }
    }
}
