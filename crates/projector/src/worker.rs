//! The projector process: one consumer-group member per projection.

use bus::consumer::{self, BatchConsumer, BatchSettings, RunSettings};
use bus::{BusError, KafkaConfig};
use sqlx::PgPool;
use tokio::sync::watch;

use crate::catalogue::CatalogueProjection;
use crate::orders::OrdersProjection;
use crate::sales::SalesProjection;
use crate::{Projection, ProjectionHandler};

/// Projector settings.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Prefix of the consumer group ids (`{prefix}-projection-{name}`).
    pub group_prefix: String,
    /// Batch size and linger.
    pub batch: BatchSettings,
    /// Retry and parking limits.
    pub run: RunSettings,
    /// Only these projections (all when empty), so they can run in separate
    /// processes.
    pub only: Vec<String>,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            group_prefix: "stockroom".to_owned(),
            batch: BatchSettings::default(),
            run: RunSettings::default(),
            only: Vec::new(),
        }
    }
}

/// Runs the configured projections until `shutdown` turns true.
pub async fn run(
    pool: PgPool,
    kafka: KafkaConfig,
    config: ProjectorConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let wanted = |name: &str| config.only.is_empty() || config.only.iter().any(|n| n == name);
    let mut tasks = Vec::new();
    let args = || {
        (
            pool.clone(),
            kafka.clone(),
            config.clone(),
            shutdown.clone(),
        )
    };
    if wanted(OrdersProjection::NAME) {
        let (p, k, c, s) = args();
        tasks.push(tokio::spawn(run_one(OrdersProjection, p, k, c, s)));
    }
    if wanted(SalesProjection::NAME) {
        let (p, k, c, s) = args();
        tasks.push(tokio::spawn(run_one(SalesProjection, p, k, c, s)));
    }
    if wanted(CatalogueProjection::NAME) {
        let (p, k, c, s) = args();
        tasks.push(tokio::spawn(run_one(CatalogueProjection, p, k, c, s)));
    }
    for task in tasks {
        task.await.unwrap_or_else(|e| {
            tracing::error!(error = %e, "projection task panicked");
            Ok(())
        })?;
    }
    Ok(())
}

async fn run_one<P: Projection>(
    projection: P,
    pool: PgPool,
    kafka: KafkaConfig,
    config: ProjectorConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    bus::admin::ensure_topics(&kafka).await?;
    let topics: Vec<String> = P::CATEGORIES.iter().map(|c| kafka.topic(*c)).collect();
    let group = format!("{}-projection-{}", config.group_prefix, P::NAME);
    let consumer = BatchConsumer::subscribe(pool.clone(), &kafka, &group, &topics, config.batch)?;
    tracing::info!(projection = P::NAME, %group, "projection started");
    consumer::run(
        &consumer,
        &pool,
        &ProjectionHandler(projection),
        config.run,
        shutdown,
    )
    .await
}
