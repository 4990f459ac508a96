//! Settings, each from a flag or its environment variable, with defaults.

use bus::consumer::BatchSettings;
use bus::producer::ProducerSettings;
use bus::run::RunSettings;
use bus::{KafkaConfig, LogSettings, RelayConfig, SourceKind};
use clap::Args;
use store::retention::Retention;
use store::{DbConfig, RetryPolicy};

mod console;
mod http;
mod webhooks;

pub use console::ConsoleArgs;
pub use http::{ApiArgs, ListenerArgs};
pub use webhooks::WebhooksArgs;

/// Settings every process needs.
#[derive(Debug, Clone, Args)]
pub struct Common {
    /// Postgres connection string.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "postgres://stockroom@127.0.0.1:5432/stockroom"
    )]
    pub database_url: String,
    /// Where the query API and the console read the read models and the
    /// log: a streaming replica (hot standby) of `DATABASE_URL`'s server,
    /// as the same role. Default: `DATABASE_URL` itself.
    #[arg(long, env = "STOCKROOM_QUERY_DATABASE_URL")]
    pub query_database_url: Option<String>,
    /// Kafka bootstrap servers.
    #[arg(long, env = "KAFKA_BROKERS", default_value = "127.0.0.1:9092")]
    pub kafka_brokers: String,
    /// Topic namespace (`{prefix}.orders`, …) and consumer-group prefix.
    #[arg(long, env = "STOCKROOM_TOPIC_PREFIX", default_value = "stockroom")]
    pub topic_prefix: String,
    /// Consumer-group prefix (defaults to the topic prefix).
    #[arg(long, env = "STOCKROOM_GROUP_PREFIX")]
    pub group_prefix: Option<String>,
    /// Partitions per topic when Stockroom creates its topics.
    #[arg(value_parser = clap::value_parser!(i32).range(1..=10_000), long, env = "STOCKROOM_PARTITIONS", default_value_t = KafkaConfig::DEFAULT_PARTITIONS)]
    pub partitions: i32,
    /// librdkafka debug contexts (`cgrp,topic,broker`…), for troubleshooting.
    #[arg(long, env = "STOCKROOM_KAFKA_DEBUG")]
    pub kafka_debug: Option<String>,
    /// This process's identity in its consumer groups (static membership);
    /// give every live instance of a worker its own. Defaults to the host name.
    #[arg(long, env = "STOCKROOM_INSTANCE_ID")]
    pub instance_id: Option<String>,
    /// Postgres connections per process.
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000), long, env = "STOCKROOM_DB_POOL_SIZE", default_value_t = DbConfig::DEFAULT_MAX_CONNECTIONS)]
    pub db_pool_size: u32,
    /// Extra librdkafka properties for every Kafka client, comma-separated
    /// `key=value` pairs (`security.protocol=SASL_SSL,sasl.mechanism=SCRAM-SHA-512,…`).
    #[arg(long, env = "STOCKROOM_KAFKA_PROPERTIES", value_delimiter = ',', value_parser = key_value)]
    pub kafka_properties: Vec<(String, String)>,
    /// Replication factor of the topics Stockroom creates (default: the
    /// broker's `default.replication.factor`).
    #[arg(long, env = "STOCKROOM_REPLICATION_FACTOR")]
    pub replication_factor: Option<i32>,
    /// Attempts for a command that keeps losing races on its stream (the
    /// APIs, the reservation process and the expirer alike).
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000), long, env = "STOCKROOM_CONFLICT_ATTEMPTS", default_value_t = RetryPolicy::DEFAULT_ATTEMPTS)]
    pub conflict_attempts: u32,
}

impl Common {
    /// The database settings.
    pub fn db(&self) -> DbConfig {
        DbConfig {
            max_connections: self.db_pool_size,
            ..DbConfig::new(&self.database_url)
        }
    }

    /// The replica's database settings, when reads go to one other than
    /// the primary.
    pub fn query_db(&self) -> Option<DbConfig> {
        self.query_database_url
            .as_deref()
            .filter(|url| *url != self.database_url)
            .map(|url| DbConfig {
                max_connections: self.db_pool_size,
                ..DbConfig::new(url)
            })
    }

    /// A pool on the replica reads go to, if they go to one.
    pub fn replica_pool(&self) -> anyhow::Result<Option<sqlx::PgPool>> {
        Ok(self.query_db().as_ref().map(store::connect).transpose()?)
    }

    /// The prefix of this deployment's consumer groups.
    pub fn groups(&self) -> &str {
        self.group_prefix.as_deref().unwrap_or(&self.topic_prefix)
    }

    /// The Kafka settings.
    pub fn kafka(&self) -> KafkaConfig {
        KafkaConfig {
            topic_prefix: self.topic_prefix.clone(),
            partitions: self.partitions,
            debug: self.kafka_debug.clone(),
            instance_id: self.instance_id.clone().or_else(host_name),
            replication_factor: self.replication_factor,
            properties: self.kafka_properties.clone(),
            ..KafkaConfig::new(&self.kafka_brokers)
        }
    }

    /// How commands that lose a race are retried.
    pub fn retry(&self) -> RetryPolicy {
        RetryPolicy::with_attempts(self.conflict_attempts)
    }
}

/// Relay settings.
#[derive(Debug, Clone, Args)]
pub struct RelayArgs {
    /// Events read and published per round.
    #[arg(value_parser = clap::value_parser!(i64).range(1..=100_000), long, env = "STOCKROOM_RELAY_BATCH_SIZE", default_value_t = RelayConfig::default().batch_size)]
    pub relay_batch_size: i64,
    /// Producer `linger.ms`.
    #[arg(value_parser = clap::value_parser!(u32).range(0..=60_000), long, env = "STOCKROOM_RELAY_LINGER_MS", default_value_t = ProducerSettings::default().linger_ms)]
    pub relay_linger_ms: u32,
    /// Records per Kafka record batch (1 is safe on tansu; 10000 on Apache Kafka).
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000_000), long, env = "STOCKROOM_RELAY_BATCH_MESSAGES", default_value_t = ProducerSettings::default().batch_messages)]
    pub relay_batch_messages: u32,
    /// Producer `compression.type` (`none`, `lz4`, `zstd`, …).
    #[arg(long, env = "STOCKROOM_RELAY_COMPRESSION", default_value_t = ProducerSettings::default().compression)]
    pub relay_compression: String,
    /// Idle poll interval when no notification arrives.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_RELAY_POLL_INTERVAL", default_value_t = RelayConfig::default().poll_interval.into())]
    pub relay_poll_interval: humantime::Duration,
    /// Least time between the relay's reads once it has caught up: a few
    /// milliseconds of latency for fewer, larger batches.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_RELAY_READ_LINGER", default_value_t = RelayConfig::default().read_linger.into())]
    pub relay_read_linger: humantime::Duration,
}

impl RelayArgs {
    /// The relay settings.
    pub fn config(&self) -> RelayConfig {
        RelayConfig {
            batch_size: self.relay_batch_size,
            poll_interval: self.relay_poll_interval.into(),
            read_linger: self.relay_read_linger.into(),
            producer: ProducerSettings {
                linger_ms: self.relay_linger_ms,
                batch_messages: self.relay_batch_messages,
                compression: self.relay_compression.clone(),
                ..ProducerSettings::default()
            },
            ..RelayConfig::default()
        }
    }
}

/// Where a worker serves its metrics and probes.
#[derive(Debug, Clone, Args)]
pub struct MetricsArgs {
    /// `host:port` where this worker serves `/metrics` (an operator key
    /// reads it), `/healthz` and `/readyz`; `off` serves nothing. Defaults:
    /// see `WORKER_METRICS_ADDRS`.
    #[arg(long, env = "STOCKROOM_METRICS_ADDR")]
    pub metrics_addr: Option<String>,
    /// Limits of that endpoint's listener.
    #[command(flatten)]
    pub listener: ListenerArgs,
}

/// Where each worker serves its metrics unless told otherwise.
pub const WORKER_METRICS_ADDRS: [(&str, &str); 4] = [
    ("relay", "127.0.0.1:9101"),
    ("projector", "127.0.0.1:9102"),
    ("reserver", "127.0.0.1:9103"),
    ("webhooks", "127.0.0.1:9104"),
];

impl MetricsArgs {
    /// The address `process` serves its metrics on, if any.
    pub fn addr(&self, process: &str) -> Option<String> {
        match self.metrics_addr.as_deref() {
            Some("off") => None,
            Some(addr) => Some(addr.to_owned()),
            None => WORKER_METRICS_ADDRS
                .iter()
                .find(|(name, _)| *name == process)
                .map(|(_, addr)| (*addr).to_owned()),
        }
    }
}

/// Settings every worker that follows events shares.
#[derive(Debug, Clone, Args)]
pub struct WorkerArgs {
    /// Where Stockroom's own workers read events: `log` (the event store in
    /// Postgres, in commit order; the default) or `kafka` (the public topics).
    #[arg(long, env = "STOCKROOM_SOURCE", default_value_t = SourceKind::default())]
    pub source: SourceKind,
    /// How long an idle worker waits for a notification before polling.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_POLL_INTERVAL", default_value_t = LogSettings::default().poll_interval.into())]
    pub poll_interval: humantime::Duration,
    /// How often a standby instance tries to take over its subscription.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_STANDBY_RETRY", default_value_t = LogSettings::default().standby_retry.into())]
    pub standby_retry: humantime::Duration,
    /// Failures of one event before it is parked.
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000), long, env = "STOCKROOM_MAX_ATTEMPTS", default_value_t = RunSettings::default().max_attempts)]
    pub max_attempts: u32,
}

impl WorkerArgs {
    fn log(&self, batch_size: i64) -> LogSettings {
        LogSettings {
            batch_size,
            poll_interval: self.poll_interval.into(),
            standby_retry: self.standby_retry.into(),
            ..LogSettings::default()
        }
    }

    /// A Kafka source's settings from `base`, standing by as the log
    /// source does.
    fn batch(&self, base: BatchSettings) -> BatchSettings {
        BatchSettings {
            standby_retry: self.standby_retry.into(),
            ..base
        }
    }

    fn run(&self) -> RunSettings {
        RunSettings {
            max_attempts: self.max_attempts,
            ..RunSettings::default()
        }
    }
}

/// Projector settings.
#[derive(Debug, Clone, Args)]
pub struct ProjectorArgs {
    /// Most events per projector transaction.
    #[arg(value_parser = usize_in(1..=100_000), long, env = "STOCKROOM_PROJECTOR_BATCH_SIZE", default_value_t = BatchSettings::default().max_messages)]
    pub projector_batch_size: usize,
    /// Least time between a caught-up projection's reads of the log, for
    /// every projection (default: each its own, see the README).
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_PROJECTOR_READ_LINGER")]
    pub projector_read_linger: Option<humantime::Duration>,
    /// Run only these projections (comma-separated; default all).
    #[arg(long, env = "STOCKROOM_PROJECTIONS", value_delimiter = ',')]
    pub projections: Vec<String>,
}

impl ProjectorArgs {
    /// The projector settings for the consumer-group prefix `prefix`.
    pub fn config(
        &self,
        worker: &WorkerArgs,
        prefix: &str,
    ) -> anyhow::Result<projector::ProjectorConfig> {
        Ok(projector::ProjectorConfig {
            source: worker.source,
            log: worker.log(self.projector_batch_size as i64),
            read_linger: self.projector_read_linger.map(Into::into),
            group_prefix: prefix.to_owned(),
            batch: worker.batch(BatchSettings {
                max_messages: self.projector_batch_size,
                ..BatchSettings::default()
            }),
            run: worker.run(),
            only: projector::registry::select(&self.projections).map_err(anyhow::Error::msg)?,
        })
    }
}

/// Reserver settings.
#[derive(Debug, Clone, Args)]
pub struct ReserverArgs {
    /// Least time between the caught-up reservation process's reads of the
    /// log: a few milliseconds of latency for fewer, larger batches.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_RESERVER_READ_LINGER", default_value_t = reserver::ReserverConfig::default().log.linger.into())]
    pub reserver_read_linger: humantime::Duration,
    /// How long a confirmed order may stay unpaid before it expires.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_PAYMENT_TIMEOUT", default_value_t = reserver::ReserverConfig::default().payment_timeout.into())]
    pub payment_timeout: humantime::Duration,
    /// How an order's lines are spread over locations: `priority` (by
    /// location priority), `most_available` or `fewest_locations`.
    #[arg(long, env = "STOCKROOM_ALLOCATION", default_value_t = AllocationSetting(reserver::ReserverConfig::default().allocation))]
    pub allocation: AllocationSetting,
    /// How often due payment deadlines are checked.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_EXPIRY_INTERVAL", default_value_t = reserver::ReserverConfig::default().expiry_interval.into())]
    pub expiry_interval: humantime::Duration,
    /// How long processed event ids are kept for deduplication.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_PROCESSED_RETENTION", default_value_t = Retention::default().processed_events.into())]
    pub processed_retention: humantime::Duration,
    /// How long `Idempotency-Key` responses are kept.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_IDEMPOTENCY_RETENTION", default_value_t = Retention::default().idempotency_keys.into())]
    pub idempotency_retention: humantime::Duration,
    /// How long retried parked events are kept (unretried ones stay).
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_PARKED_RETENTION", default_value_t = Retention::default().parked_events.into())]
    pub parked_retention: humantime::Duration,
    /// How often rows past their retention are purged.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_PURGE_INTERVAL", default_value_t = reserver::ReserverConfig::default().purge_interval.into())]
    pub purge_interval: humantime::Duration,
}

impl ReserverArgs {
    /// What the reservation process decides with, for tools that apply its
    /// events themselves (a parked retry).
    pub fn policy(&self) -> anyhow::Result<reserver::Policy> {
        Ok(reserver::Policy {
            payment_timeout: chrono::Duration::from_std(self.payment_timeout.into())?,
            allocation: self.allocation.0,
        })
    }

    /// The reserver settings.
    pub fn config(&self, common: &Common, worker: &WorkerArgs) -> reserver::ReserverConfig {
        let defaults = reserver::ReserverConfig::default();
        reserver::ReserverConfig {
            source: worker.source,
            log: LogSettings {
                linger: self.reserver_read_linger.into(),
                ..worker.log(defaults.log.batch_size)
            },
            group: format!("{}-reserver", common.groups()),
            payment_timeout: self.payment_timeout.into(),
            allocation: self.allocation.0,
            expiry_interval: self.expiry_interval.into(),
            run: worker.run(),
            retry: common.retry(),
            retention: Retention {
                processed_events: self.processed_retention.into(),
                idempotency_keys: self.idempotency_retention.into(),
                parked_events: self.parked_retention.into(),
                ..defaults.retention
            },
            purge_interval: self.purge_interval.into(),
            batch: worker.batch(defaults.batch),
        }
    }
}

/// Variables Stockroom no longer reads, with what replaced them: one that is
/// still set is reported, not silently ignored.
const RETIRED_VARIABLES: &[(&str, &str)] = &[(
    "STOCKROOM_READ_LINGER",
    "STOCKROOM_RESERVER_READ_LINGER and STOCKROOM_PROJECTOR_READ_LINGER",
)];

/// Warns about each retired variable that is set.
pub fn warn_of_retired_variables() {
    for (variable, instead) in RETIRED_VARIABLES {
        if std::env::var_os(variable).is_some() {
            tracing::warn!(variable, instead, "a retired setting is set and ignored");
        }
    }
}

/// The machine's host name, if it has one.
fn host_name() -> Option<String> {
    std::env::var("HOSTNAME")
        .ok()
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
}

/// Parses one `key=value` librdkafka property.
/// Longest any duration setting may be. A year is past every real need and
/// far below where date arithmetic overflows: `STOCKROOM_PAYMENT_TIMEOUT=300000y`
/// once parsed, then panicked inside chrono on every reservation batch.
const MAX_DURATION: std::time::Duration = std::time::Duration::from_secs(366 * 24 * 3600);

/// `STOCKROOM_ALLOCATION`, as clap parses and prints it.
#[derive(Debug, Clone, Copy)]
pub struct AllocationSetting(pub domain::allocation::Strategy);

impl std::str::FromStr for AllocationSetting {
    type Err = String;
    fn from_str(raw: &str) -> Result<Self, String> {
        domain::allocation::Strategy::parse(raw)
            .map(Self)
            .ok_or_else(|| {
                format!(
                    "unknown allocation strategy {raw:?}; one of {}",
                    domain::allocation::Strategy::NAMES.join(", ")
                )
            })
    }
}

impl std::fmt::Display for AllocationSetting {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0.as_str())
    }
}

/// A duration setting (`500ms`, `15m`, `7d`), refused at start when past
/// [`MAX_DURATION`].
fn duration_setting(raw: &str) -> Result<humantime::Duration, String> {
    let parsed: humantime::Duration = raw.trim().parse().map_err(|e| format!("{e}"))?;
    if *parsed > MAX_DURATION {
        return Err(format!(
            "{raw} is too long: at most {}",
            humantime::format_duration(MAX_DURATION)
        ));
    }
    Ok(parsed)
}

/// A count setting within `range`.
fn usize_in(
    range: std::ops::RangeInclusive<usize>,
) -> impl Fn(&str) -> Result<usize, String> + Clone + Send + Sync + 'static {
    move |raw| {
        let parsed: usize = raw
            .trim()
            .parse()
            .map_err(|_| format!("{raw:?} is not a whole number"))?;
        if range.contains(&parsed) {
            Ok(parsed)
        } else {
            Err(format!(
                "{parsed} is out of range {}..={}",
                range.start(),
                range.end()
            ))
        }
    }
}

fn key_value(raw: &str) -> Result<(String, String), String> {
    raw.split_once('=')
        .map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned()))
        .filter(|(k, _)| !k.is_empty())
        .ok_or_else(|| format!("expected key=value, got {raw:?}"))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use clap::Parser;

    use crate::cli::{Cli, Task};

    fn all_in_one(args: &[&str]) -> Box<crate::cli::AllInOne> {
        let cli = Cli::try_parse_from(["stockroom", "all"].iter().chain(args)).unwrap();
        match cli.command {
            Task::All(all) => all,
            other => panic!("parsed {other:?}"),
        }
    }

    #[test]
    fn each_follower_lingers_by_its_own_default_and_one_setting_overrides_every_projection() {
        let all = all_in_one(&[]);
        let projector = all.projector.config(&all.worker, "p").unwrap();
        assert_eq!(projector.read_linger, None, "each projection's own");
        let reserver = all.reserver.config(&all.common, &all.worker);
        assert_eq!(reserver.log.linger, Duration::from_millis(10));
        assert_eq!(all.relay.config().read_linger, Duration::from_millis(10));

        let all = all_in_one(&[
            "--projector-read-linger",
            "3ms",
            "--reserver-read-linger",
            "7ms",
        ]);
        let projector = all.projector.config(&all.worker, "p").unwrap();
        assert_eq!(projector.read_linger, Some(Duration::from_millis(3)));
        let reserver = all.reserver.config(&all.common, &all.worker);
        assert_eq!(reserver.log.linger, Duration::from_millis(7));
    }

    #[test]
    fn out_of_range_settings_are_refused_at_start_with_the_reason() {
        let refused = |args: &[&str]| {
            Cli::try_parse_from(["stockroom", "all"].iter().chain(args))
                .err()
                .map(|e| e.to_string())
        };
        let year = refused(&["--payment-timeout", "300000y"]).expect("refused");
        assert!(year.contains("too long"), "{year}");
        assert!(refused(&["--payment-timeout", "366days"]).is_none());
        assert!(refused(&["--projector-batch-size", "0"]).is_some());
        assert!(refused(&["--relay-batch-size", "-5"]).is_some());
        assert!(refused(&["--max-body-bytes", "lots"]).is_some());
        assert!(refused(&["--db-pool-size", "0"]).is_some());
    }
}
