//! The reserver process: the orders-topic consumer plus the expirer.

use std::time::Duration;

use bus::consumer::{self, BatchConsumer, BatchSettings, RunSettings};
use bus::{BusError, KafkaConfig};
use domain::StreamCategory;
use sqlx::PgPool;
use tokio::sync::watch;

use crate::expirer;
use crate::handler::ReservationHandler;

/// Reserver settings.
#[derive(Debug, Clone)]
pub struct ReserverConfig {
    /// Consumer group id.
    pub group: String,
    /// How long a confirmed order may stay unpaid (`STOCKROOM_PAYMENT_TIMEOUT`).
    pub payment_timeout: Duration,
    /// How often the expirer looks for due orders.
    pub expiry_interval: Duration,
    /// Batch size and linger.
    pub batch: BatchSettings,
    /// Retry and parking limits.
    pub run: RunSettings,
}

impl Default for ReserverConfig {
    fn default() -> Self {
        Self {
            group: "stockroom-reserver".to_owned(),
            payment_timeout: Duration::from_secs(15 * 60),
            expiry_interval: Duration::from_secs(1),
            batch: BatchSettings {
                max_messages: 100,
                linger: Duration::from_millis(5),
            },
            run: RunSettings::default(),
        }
    }
}

/// Runs the consumer and the expirer until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    kafka: KafkaConfig,
    config: ReserverConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    bus::admin::ensure_topics(&kafka).await?;
    let expiry = tokio::spawn(expirer::run(
        pool.clone(),
        config.expiry_interval,
        shutdown.clone(),
    ));
    let topics = vec![kafka.topic(StreamCategory::Order)];
    let consumer =
        BatchConsumer::subscribe(pool.clone(), &kafka, &config.group, &topics, config.batch)?;
    let handler = ReservationHandler {
        pool: pool.clone(),
        payment_timeout: chrono::Duration::from_std(config.payment_timeout)
            .unwrap_or(chrono::Duration::minutes(15)),
    };
    tracing::info!(group = %config.group, "reserver started");
    let result = consumer::run(&consumer, &pool, &handler, config.run, shutdown).await;
    let _ = expiry.await;
    result
}
