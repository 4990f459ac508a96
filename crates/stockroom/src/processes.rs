//! Starting each process from its settings.

use std::time::Duration;

use anyhow::Context;
use bus::admin::BrokerProbe;
use bus::Relay;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use web::auth::Authenticator;
use web::layers::HttpLimits;
use web::probes::Probes;

use crate::cli::{AllInOne, ApiProcess, BenchArgs, Cli, ConsoleProcess, Task};
use crate::config::{ApiArgs, Common, MetricsArgs};
use crate::{parked, shutdown};
use supervisor::Supervisor;

const PROBE_TIMEOUT: Duration = Duration::from_secs(2);

/// Runs the chosen subcommand.
pub async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Task::Migrate(common) => {
            let pool = store::connect(&common.db())?;
            store::migrate(&pool).await.context("migrations failed")?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Task::CommandApi(p) => {
            let addr = addr_or(&p, "STOCKROOM_COMMAND_ADDR", crate::cli::COMMAND_ADDR);
            command_api(&p.common, &p.api, &addr, shutdown::on_signal()).await
        }
        Task::QueryApi(p) => {
            let addr = addr_or(&p, "STOCKROOM_QUERY_ADDR", crate::cli::QUERY_ADDR);
            query_api(&p.common, &p.api, &addr, shutdown::on_signal()).await
        }
        Task::Relay(p) => {
            let pool = store::connect(&p.common.db())?;
            let relay = Relay::new(pool, p.common.kafka(), p.relay.config());
            worker("relay", &p.common, &p.metrics, |stop| relay.run(stop)).await
        }
        Task::Projector(p) => {
            let pool = store::connect(&p.common.db())?;
            let config = p.projector.config(&p.worker, p.common.groups())?;
            let kafka = p.common.kafka();
            worker("projector", &p.common, &p.metrics, |stop| {
                projector::run(pool, kafka, config, stop)
            })
            .await
        }
        Task::Reserver(p) => {
            let pool = store::connect(&p.common.db())?;
            let config = p.reserver.config(&p.common, &p.worker);
            let kafka = p.common.kafka();
            worker("reserver", &p.common, &p.metrics, |stop| {
                reserver::run(pool, kafka, config, stop)
            })
            .await
        }
        Task::Webhooks(w) => match w.action {
            Some(action) => crate::webhooks::run(action).await,
            None => {
                let pool = store::connect(&w.common.db())?;
                let config = w.webhooks.config();
                worker("webhooks", &w.common, &w.metrics, |stop| {
                    webhooks::run(pool, config, stop)
                })
                .await
            }
        },
        Task::Republish { common, tail } => {
            let pool = store::connect(&common.db())?;
            let mut conn = pool.acquire().await?;
            let again = bus::relay::republish(&mut conn, tail).await?;
            tracing::info!(
                events = again,
                "relay checkpoint rewound and stored Kafka offsets reset; these events will be published again"
            );
            println!("{again} events will be published again");
            Ok(())
        }
        Task::All(all) => all_in_one(*all).await,
        Task::Schemas { out } => crate::schemas::write(&out),
        Task::Bench(args) => {
            let BenchArgs {
                common,
                smoke,
                only_placement,
                only_end_to_end,
                only_scale,
                only_history,
                only_locations,
                only_holds,
                only_replica,
                replica_database_url,
                only_feed,
                e2e_rate,
                e2e_seconds,
                out,
            } = *args;
            let exe = std::env::current_exe()?;
            let mut config =
                bench::BenchConfig::full(exe, common.database_url, common.kafka_brokers);
            if smoke {
                config = config.smoke();
            }
            config.only = [
                (only_placement, bench::Only::Placement),
                (only_end_to_end, bench::Only::EndToEnd),
                (only_scale, bench::Only::Scale),
                (only_history, bench::Only::History),
                (only_locations, bench::Only::Locations),
                (only_holds, bench::Only::Holds),
                (only_replica, bench::Only::Replica),
                (only_feed, bench::Only::Feed),
            ]
            .into_iter()
            .find_map(|(chosen, stage)| chosen.then_some(stage));
            config.replica_admin_url = replica_database_url;
            if config.only.is_some_and(|only| only != bench::Only::Replica) {
                config.ramp = None;
            }
            if let Some(rate) = e2e_rate {
                let seconds = e2e_seconds.unwrap_or(30);
                config.e2e_rates = vec![(rate, std::time::Duration::from_secs(seconds))];
            }
            let report = bench::run(&config).await?;
            let text = report.markdown();
            std::fs::write(&out, &text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            for (file, svg) in &report.charts {
                let path = out.with_file_name(file);
                std::fs::write(&path, svg)
                    .with_context(|| format!("cannot write {}", path.display()))?;
            }
            println!("{text}");
            println!("written to {}", out.display());
            Ok(())
        }
        Task::Parked { action } => parked::run(action).await,
        Task::Keys { action } => crate::keys::run(action).await,
        Task::Users { action } => crate::users::run(action).await,
        Task::Console(p) => console(&p, shutdown::on_signal()).await,
        Task::Doctor {
            common,
            strict,
            keys_expiring_within,
        } => crate::doctor::run(common, strict, keys_expiring_within.into()).await,
        Task::Projections { action } => crate::projections::run(action).await,
    }
}

fn addr_or(p: &ApiProcess, var: &str, default: &str) -> String {
    p.addr
        .clone()
        .or_else(|| std::env::var(var).ok())
        .unwrap_or_else(|| default.to_owned())
}

async fn listen(name: &str, addr: &str) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(addr)
        .await
        .with_context(|| format!("{name} cannot listen on {addr}"))?;
    let bound = listener.local_addr()?;
    // A plain stdout line scripts and tests read to find the port.
    println!("{name} listening on http://{bound}");
    tracing::info!(%bound, "{name} listening");
    Ok(listener)
}

async fn command_api(
    common: &Common,
    api: &ApiArgs,
    addr: &str,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let retry = common.retry();
    serve_api(
        "command-api",
        common,
        addr,
        api.limits(),
        stop.clone(),
        |pool, probes, authenticator| {
            let notifier = store::Notifier::start(&pool, stop.clone());
            let state = command_api::AppState::new(pool, probes, retry, authenticator, notifier)
                .with_channel_limits(api.channel_limits())
                .with_hold_settings(api.hold_settings());
            command_api::router(state, api.limits())
        },
    )
    .await
}

async fn query_api(
    common: &Common,
    api: &ApiArgs,
    addr: &str,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let replica = common.replica_pool()?;
    // Ready when the server that answers the reads does.
    let replica_probes = replica
        .as_ref()
        .map(|replica| probes(replica, common))
        .transpose()?;
    serve_api(
        "query-api",
        common,
        addr,
        api.limits(),
        stop.clone(),
        |primary, probes, authenticator| {
            let max_wait = api.max_wait.into();
            let freshness = match &replica {
                Some(replica) => {
                    query_api::replica::watch_lag(primary.clone(), replica.clone(), stop.clone());
                    query_api::freshness::Freshness::on_replica(
                        replica.clone(),
                        primary.clone(),
                        max_wait,
                        stop.clone(),
                    )
                }
                None => {
                    query_api::freshness::Freshness::start(primary.clone(), max_wait, stop.clone())
                }
            };
            let horizon =
                query_api::horizon::LogHorizon::start(primary.clone(), replica.clone(), stop);
            let reads = replica.clone().unwrap_or(primary);
            let state = query_api::AppState {
                event_streams: query_api::routes::EventStreams::start(
                    reads.clone(),
                    horizon.clone(),
                ),
                horizon,
                max_long_poll: query_api::long_poll_within(api.limits().request_timeout),
                freshness,
                pool: reads,
                probes: replica_probes.unwrap_or(probes),
                authenticator,
            };
            query_api::router(state, api.limits())
        },
    )
    .await
}

async fn console(p: &ConsoleProcess, stop: watch::Receiver<bool>) -> anyhow::Result<()> {
    let settings = p.console.settings(
        &p.reserver,
        query_api::DEFAULT_MAX_WAIT,
        p.listener.default_body(),
    );
    serve_console(&p.common, settings, &p.addr, stop).await
}

async fn serve_console(
    common: &Common,
    settings: console::ConsoleSettings,
    addr: &str,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let retry = common.retry();
    let replica = common.replica_pool()?;
    serve_api(
        "console",
        common,
        addr,
        settings.http,
        stop.clone(),
        |pool, probes, authenticator| {
            let notifier = store::Notifier::start(&pool, stop.clone());
            let commands = command_api::AppState::new(pool, probes, retry, authenticator, notifier);
            console::router(console::Console::reading(commands, replica, settings, stop))
        },
    )
    .await
}

/// Runs a worker beside its metrics endpoint (unless that is off); the
/// first of the two to fail stops the other.
async fn worker<F, Fut, E>(
    name: &'static str,
    common: &Common,
    metrics: &MetricsArgs,
    work: F,
) -> anyhow::Result<()>
where
    F: FnOnce(watch::Receiver<bool>) -> Fut,
    Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
    E: Into<supervisor::TaskError>,
{
    let mut supervisor = Supervisor::new(shutdown::on_signal());
    supervisor.spawn(name, work(supervisor.stop_signal()));
    if let Some(addr) = metrics.addr(name) {
        let (common, stop) = (common.clone(), supervisor.stop_signal());
        let limits = metrics.listener.default_body();
        supervisor.spawn("metrics endpoint", async move {
            let label = format!("{name} metrics");
            serve_api(
                &label,
                &common,
                &addr,
                limits,
                stop,
                |_, probes, authenticator| web::worker::router(probes, authenticator, limits),
            )
            .await
        });
    }
    Ok(supervisor.wait().await?)
}

/// Connects, builds an API's router from its pool, probes and key
/// verifier, and serves it; key changes are listened for meanwhile.
async fn serve_api(
    name: &str,
    common: &Common,
    addr: &str,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
    router: impl FnOnce(PgPool, Probes, Authenticator) -> axum::Router,
) -> anyhow::Result<()> {
    let pool = store::connect(&common.db())?;
    let probes = probes(&pool, common)?;
    let authenticator = Authenticator::new(pool.clone());
    let listener = tokio::spawn(authenticator.clone().listen(stop.clone()));
    let served = serve(
        name,
        addr,
        router(pool, probes, authenticator),
        limits,
        stop,
    )
    .await;
    listener.abort();
    served
}

fn probes(pool: &PgPool, common: &Common) -> anyhow::Result<Probes> {
    Ok(Probes::new(
        pool.clone(),
        BrokerProbe::new(&common.kafka())?,
        PROBE_TIMEOUT,
    ))
}

async fn serve(
    name: &str,
    addr: &str,
    router: axum::Router,
    limits: HttpLimits,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = listen(name, addr).await?;
    web::serve(listener, router, limits, shutdown::wait(stop)).await?;
    tracing::info!("{name} stopped");
    Ok(())
}

async fn all_in_one(all: AllInOne) -> anyhow::Result<()> {
    let pool: PgPool = store::connect(&all.common.db())?;
    store::migrate(&pool).await.context("migrations failed")?;
    let kafka = all.common.kafka();
    let projector_config = all.projector.config(&all.worker, all.common.groups())?;
    let reserver_config = all.reserver.config(&all.common, &all.worker);
    let relay = Relay::new(pool.clone(), kafka.clone(), all.relay.config());
    let mut supervisor = Supervisor::new(shutdown::on_signal());
    let stop = supervisor.stop_signal();
    let (common, api, addr) = (all.common.clone(), all.api.clone(), all.command_addr);
    supervisor.spawn("command-api", {
        let stop = stop.clone();
        async move { command_api(&common, &api, &addr, stop).await }
    });
    let (common, api, addr) = (all.common.clone(), all.api.clone(), all.query_addr);
    supervisor.spawn("query-api", {
        let stop = stop.clone();
        async move { query_api(&common, &api, &addr, stop).await }
    });
    let console_settings = all.console.settings(
        &all.reserver,
        all.api.max_wait.into(),
        all.api.listener.default_body(),
    );
    let (common, addr) = (all.common.clone(), all.console_addr);
    supervisor.spawn("console", {
        let stop = stop.clone();
        async move { serve_console(&common, console_settings, &addr, stop).await }
    });
    supervisor.spawn("relay", relay.run(stop.clone()));
    supervisor.spawn(
        "projector",
        projector::run(pool.clone(), kafka.clone(), projector_config, stop.clone()),
    );
    supervisor.spawn(
        "reserver",
        reserver::run(pool, kafka, reserver_config, stop),
    );
    Ok(supervisor.wait().await?)
}
