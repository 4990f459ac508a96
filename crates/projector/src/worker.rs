//! The projector process: one supervised subscription per projection.

use std::time::Duration;

use bus::consumer::{BatchConsumer, BatchSettings};
use bus::run::RunSettings;
use bus::{BusError, KafkaConfig, LogSettings, LogSource, SourceKind};
use sqlx::PgPool;
use store::Notifier;
use supervisor::{Stopped, Supervisor};
use tokio::sync::watch;

use crate::registry::{self, Visitor};
use crate::{Projection, ProjectionHandler};

/// Projector settings.
#[derive(Debug, Clone)]
pub struct ProjectorConfig {
    /// Where events come from.
    pub source: SourceKind,
    /// Reading the log, but for its `linger` (see [`Self::read_linger`]).
    pub log: LogSettings,
    /// One least time between reads for every projection, instead of each
    /// projection's own [`Projection::READ_LINGER`].
    pub read_linger: Option<Duration>,
    /// Prefix of the consumer group ids (`{prefix}-projection-{name}`), Kafka only.
    pub group_prefix: String,
    /// Batch size and linger, Kafka only.
    pub batch: BatchSettings,
    /// Retry and parking limits.
    pub run: RunSettings,
    /// Only these projections (all when empty), so they can run in separate
    /// processes.
    pub only: Vec<&'static str>,
}

impl Default for ProjectorConfig {
    fn default() -> Self {
        Self {
            source: SourceKind::default(),
            log: LogSettings::default(),
            read_linger: None,
            group_prefix: "stockroom".to_owned(),
            batch: BatchSettings::default(),
            run: RunSettings::default(),
            only: Vec::new(),
        }
    }
}

/// Runs the configured projections until `shutdown` turns true or one of
/// them fails (which stops the others).
pub async fn run(
    pool: PgPool,
    kafka: KafkaConfig,
    config: ProjectorConfig,
    shutdown: watch::Receiver<bool>,
) -> Result<(), Stopped> {
    let mut supervisor = Supervisor::new(shutdown);
    // One announcer for every projection of this process.
    let notifier = Notifier::start(&pool, supervisor.stop_signal());
    let names = if config.only.is_empty() {
        registry::NAMES.to_vec()
    } else {
        config.only.clone()
    };
    for name in names {
        let spawn = Spawn {
            supervisor: &mut supervisor,
            pool: &pool,
            kafka: &kafka,
            config: &config,
            notifier: &notifier,
        };
        registry::visit(name, spawn);
    }
    supervisor.wait().await
}

struct Spawn<'a> {
    supervisor: &'a mut Supervisor,
    pool: &'a PgPool,
    kafka: &'a KafkaConfig,
    config: &'a ProjectorConfig,
    notifier: &'a Notifier,
}

impl Visitor for Spawn<'_> {
    type Output = ();

    fn visit<P: Projection>(self, projection: P) {
        let stop = self.supervisor.stop_signal();
        let task = run_one(
            projection,
            self.pool.clone(),
            self.kafka.clone(),
            self.config.clone(),
            self.notifier.clone(),
            stop,
        );
        self.supervisor
            .spawn(format!("projection {}", P::NAME), task);
    }
}

async fn run_one<P: Projection>(
    projection: P,
    pool: PgPool,
    kafka: KafkaConfig,
    config: ProjectorConfig,
    notifier: Notifier,
    shutdown: watch::Receiver<bool>,
) -> Result<(), BusError> {
    let handler = ProjectionHandler::new(projection, notifier);
    tracing::info!(projection = P::NAME, source = %config.source, "projection started");
    match config.source {
        SourceKind::Log => {
            let log = LogSettings {
                linger: config.read_linger.unwrap_or(P::READ_LINGER),
                ..config.log
            };
            let mut source = LogSource::new(pool.clone(), P::NAME, &P::category_names(), log);
            bus::run::run(&mut source, &pool, &handler, config.run, shutdown).await
        }
        SourceKind::Kafka => {
            bus::admin::ensure_topics(&kafka).await?;
            let topics: Vec<String> = P::CATEGORIES.iter().map(|c| kafka.topic(*c)).collect();
            let group = format!("{}-projection-{}", config.group_prefix, P::NAME);
            let mut source =
                BatchConsumer::new(pool.clone(), &kafka, &group, P::NAME, &topics, config.batch)?;
            bus::run::run(&mut source, &pool, &handler, config.run, shutdown).await
        }
    }
}
