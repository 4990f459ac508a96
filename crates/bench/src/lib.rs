//! `stockroom bench`: starts the system on a fresh database, drives each
//! stage, and measures it beside a raw baseline doing the same work without
//! Stockroom, in the same run on the same machine. Figures are medians over
//! rounds; the report gives ratios, never a lone absolute time as a verdict.

pub mod backlog;
pub mod chart;
pub mod children;
pub mod load;
pub mod pgbench;
pub mod report;
pub mod stages;
pub mod stats;

use std::path::PathBuf;
use std::time::Duration;

pub use report::Report;

/// What to run and how hard.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// The `stockroom` binary the stages start.
    pub exe: PathBuf,
    /// A Postgres URL of a role that may create databases.
    pub admin_database_url: String,
    /// Kafka bootstrap servers.
    pub kafka_brokers: String,
    /// Rounds per measurement; medians are reported.
    pub rounds: usize,
    /// Measured time per round of a load stage.
    pub duration: Duration,
    /// Unmeasured warm-up before each round.
    pub warmup: Duration,
    /// Events in the relay and projector backlogs.
    pub backlog: usize,
    /// Client counts for placing orders.
    pub concurrency: Vec<usize>,
    /// Orders per second offered in the end-to-end stages: a moderate rate
    /// and a high one, each with its own duration per round.
    pub e2e_rates: Vec<(u32, Duration)>,
    /// Step of the highest-rate search, and how long each step runs.
    pub ramp: Option<(u32, Duration)>,
    /// Stock events on the long-history SKU.
    pub history: usize,
    /// Orders in the large log (rebuild, list and feed stages).
    pub scale_orders: usize,
    /// Event streams held open beside the order path.
    pub event_streams: usize,
    /// One stage alone, to iterate on it; `None` runs them all.
    pub only: Option<Only>,
    /// The admin URL's twin on a streaming replica of its server: with it,
    /// `Only::Replica` searches the highest rate with the query API reading
    /// the replica too.
    pub replica_admin_url: Option<String>,
    /// Whether the steady loads start their query API on the replica.
    pub query_on_replica: bool,
}

/// A stage that can run alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Only {
    /// Placing orders at each client count beside pgbench.
    Placement,
    /// The steady loads (the sum of stage latencies they are compared with
    /// then lacks the other stages).
    EndToEnd,
    /// The large log: the rebuild from 1,000,000 events and the list queries.
    Scale,
    /// Reservations on a SKU with a long stream beside a fresh one.
    History,
    /// Reservations on a SKU at eight locations beside one at a single one.
    Locations,
    /// What one primary carries: the highest rate on one database, the same
    /// with the query API on a replica, and pgbench's placement rate.
    Replica,
    /// The event feed: a large log read from position 0, long-poll delivery.
    Feed,
    /// Cart holds placed and converted beside plain orders, at the first
    /// end-to-end rate.
    Holds,
}

impl BenchConfig {
    /// The full run (several minutes).
    pub fn full(exe: PathBuf, admin_database_url: String, kafka_brokers: String) -> Self {
        Self {
            exe,
            admin_database_url,
            kafka_brokers,
            rounds: 3,
            duration: Duration::from_secs(5),
            warmup: Duration::from_secs(1),
            backlog: 100_000,
            concurrency: vec![1, 8, 32],
            e2e_rates: vec![
                (200, Duration::from_secs(30)),
                (500, Duration::from_secs(60)),
            ],
            ramp: Some((100, Duration::from_secs(10))),
            history: 100_000,
            scale_orders: 1_000_000,
            event_streams: 200,
            only: None,
            replica_admin_url: None,
            query_on_replica: false,
        }
    }

    /// A few seconds, to keep the command from rotting.
    pub fn smoke(self) -> Self {
        Self {
            rounds: 1,
            duration: Duration::from_millis(1000),
            warmup: Duration::from_millis(200),
            backlog: 300,
            concurrency: vec![1, 4],
            e2e_rates: vec![(20, Duration::from_millis(1000))],
            ramp: None,
            history: 500,
            scale_orders: 2_000,
            event_streams: 8,
            ..self
        }
    }
}

/// Runs every stage and returns the report; the databases it made are
/// dropped whether it succeeds or not.
pub async fn run(config: &BenchConfig) -> anyhow::Result<Report> {
    let report = run_stages(config).await;
    if let Err(e) = children::drop_databases(config).await {
        eprintln!("could not drop the bench's databases: {e:#}");
    }
    report
}

async fn run_stages(config: &BenchConfig) -> anyhow::Result<Report> {
    let mut report = Report::new(config);
    match config.only {
        Some(Only::Scale) => {
            stages::scale(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::History) => {
            stages::history(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::Locations) => {
            stages::locations(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::Placement) => {
            stages::place_order(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::Replica) => {
            stages::one_primary(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::Holds) => {
            let (rate, duration) = config.e2e_rates[0];
            stages::holds(config, &mut report, rate, duration).await?;
            return Ok(report);
        }
        Some(Only::Feed) => {
            stages::feed(config, &mut report).await?;
            stages::event_streams(config, &mut report).await?;
            return Ok(report);
        }
        Some(Only::EndToEnd) | None => {}
    }
    // The latency stages run first, each after `settle`: the throughput
    // stages leave 600,000 records in the broker, and tansu keeps
    // every record in memory, with more CPU per record the more it holds
    // (deleting the topics does not give it back). Their rows are written
    // last, beside the stage latencies they are compared with.
    let mut steady = Vec::new();
    for &(rate, duration) in &config.e2e_rates {
        children::settle(config).await?;
        let measured = stages::steady_load(config, rate, duration, config.rounds, 0).await?;
        steady.push((rate, duration, measured));
    }
    // The same loads with two-line orders, the catalogue over three
    // locations beside all of it at one.
    let mut spread = Vec::new();
    for &(rate, duration) in &config.e2e_rates {
        let mut at = Vec::new();
        for locations in [3, 1] {
            children::settle(config).await?;
            let catalogue = stages::Catalogue::TwoLines { locations };
            at.push(
                stages::steady_load_of(config, rate, duration, config.rounds, catalogue, 0).await?,
            );
        }
        spread.push((rate, duration, at[0], at[1]));
    }
    let ramp = match config.ramp {
        Some((step, step_duration)) => {
            children::settle(config).await?;
            let under = Duration::from_millis(100);
            Some(stages::ramp(config, step, step_duration, under).await?)
        }
        None => None,
    };
    if config.only.is_none() {
        children::settle(config).await?;
        stages::place_order(config, &mut report).await?;
        let backlog_db = stages::relay_and_projector(config, &mut report).await?;
        stages::query(config, &backlog_db, &mut report).await?;
        stages::history(config, &mut report).await?;
        stages::locations(config, &mut report).await?;
        let (rate, duration) = config.e2e_rates[0];
        stages::holds(config, &mut report, rate, duration).await?;
        stages::scale(config, &mut report).await?;
        stages::feed(config, &mut report).await?;
        children::settle(config).await?;
        stages::event_streams(config, &mut report).await?;
    }
    for (rate, duration, measured) in &steady {
        stages::end_to_end(&mut report, *rate, *duration, measured, targets(*rate));
    }
    for (rate, duration, three, one) in &spread {
        let at = format!(
            "end to end at {rate} two-line orders/s for {duration:?}, the catalogue over 3 \
             locations (2 in 3 orders split) vs all at one"
        );
        let targets = targets(*rate);
        report.latency(
            &format!("{at}: placed → confirmed"),
            three.confirmed,
            one.confirmed,
            targets.confirmed,
        );
        report.latency(
            &format!("{at}: accepted → visible"),
            three.visible,
            one.visible,
            targets.visible,
        );
    }
    if let Some(ramp) = &ramp {
        stages::highest_rate(&mut report, ramp, "");
    }
    Ok(report)
}

/// The end-to-end targets of an offered rate: the broker-off-path targets up
/// to 200 orders/s, the at-scale ones above.
fn targets(rate: u32) -> stages::Targets {
    if rate > 200 {
        stages::Targets {
            confirmed: Duration::from_millis(50),
            visible: Duration::from_millis(100),
            post: Some(Duration::from_millis(20)),
        }
    } else {
        stages::Targets {
            confirmed: Duration::from_millis(100),
            visible: Duration::from_millis(150),
            post: None,
        }
    }
}
