//! Starting each process from its settings.

use std::time::Duration;

use anyhow::Context;
use bus::admin::BrokerProbe;
use bus::Relay;
use sqlx::PgPool;
use tokio::net::TcpListener;
use tokio::sync::watch;
use web::probes::Probes;

use crate::cli::{AllInOne, ApiProcess, Cli, Task};
use crate::config::{ApiArgs, Common};
use crate::{parked, shutdown};

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
            let addr = addr_or(&p, "STOCKROOM_COMMAND_ADDR", "127.0.0.1:8080");
            command_api(&p.common, &p.api, &addr, shutdown::on_signal()).await
        }
        Task::QueryApi(p) => {
            let addr = addr_or(&p, "STOCKROOM_QUERY_ADDR", "127.0.0.1:8081");
            query_api(&p.common, &p.api, &addr, shutdown::on_signal()).await
        }
        Task::Relay(p) => {
            let relay = Relay::new(
                p.common.database_url.clone(),
                p.common.kafka(),
                p.relay.config(),
            );
            Ok(relay.run(shutdown::on_signal()).await?)
        }
        Task::Projector(p) => {
            let pool = store::connect(&p.common.db())?;
            let config = p.projector.config(p.common.groups());
            Ok(projector::run(pool, p.common.kafka(), config, shutdown::on_signal()).await?)
        }
        Task::Reserver(p) => {
            let pool = store::connect(&p.common.db())?;
            let config = p.reserver.config(p.common.groups());
            Ok(reserver::run(pool, p.common.kafka(), config, shutdown::on_signal()).await?)
        }
        Task::Republish(common) => {
            let pool = store::connect(&common.db())?;
            let mut conn = pool.acquire().await?;
            bus::relay::republish_all(&mut conn).await?;
            tracing::info!(
                "relay checkpoint and consumer offsets reset; the log will be republished"
            );
            Ok(())
        }
        Task::All(all) => all_in_one(all).await,
        Task::Schemas { out } => crate::schemas::write(&out),
        Task::Bench { common, smoke, out } => {
            let exe = std::env::current_exe()?;
            let mut config =
                bench::BenchConfig::full(exe, common.database_url, common.kafka_brokers);
            if smoke {
                config = config.smoke();
            }
            let report = bench::run(&config).await?;
            let text = report.markdown();
            std::fs::write(&out, &text)
                .with_context(|| format!("cannot write {}", out.display()))?;
            println!("{text}");
            println!("written to {}", out.display());
            Ok(())
        }
        Task::Parked { action } => parked::run(action).await,
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
    let attempts = api.conflict_attempts;
    serve_api("command-api", common, addr, stop, |pool, probes| {
        let state = command_api::AppState {
            pool,
            probes,
            conflict_attempts: attempts,
        };
        command_api::router(state, api.limits())
    })
    .await
}

async fn query_api(
    common: &Common,
    api: &ApiArgs,
    addr: &str,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    serve_api("query-api", common, addr, stop, |pool, probes| {
        let state = query_api::AppState {
            pool,
            probes,
            max_wait: api.max_wait,
        };
        query_api::router(state, api.limits())
    })
    .await
}

/// Connects, builds an API's router from its pool and probes, and serves it.
async fn serve_api(
    name: &str,
    common: &Common,
    addr: &str,
    stop: watch::Receiver<bool>,
    router: impl FnOnce(PgPool, Probes) -> axum::Router,
) -> anyhow::Result<()> {
    let pool = store::connect(&common.db())?;
    let probes = probes(&pool, common)?;
    serve(name, addr, router(pool, probes), stop).await
}

fn probes(pool: &PgPool, common: &Common) -> anyhow::Result<Probes> {
    Ok(Probes {
        pool: pool.clone(),
        broker: BrokerProbe::new(&common.kafka())?,
        timeout: PROBE_TIMEOUT,
    })
}

async fn serve(
    name: &str,
    addr: &str,
    router: axum::Router,
    stop: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let listener = listen(name, addr).await?;
    web::serve(listener, router, shutdown::wait(stop)).await?;
    tracing::info!("{name} stopped");
    Ok(())
}

async fn all_in_one(all: AllInOne) -> anyhow::Result<()> {
    let pool: PgPool = store::connect(&all.common.db())?;
    store::migrate(&pool).await.context("migrations failed")?;
    let stop = shutdown::on_signal();
    let kafka = all.common.kafka();
    let prefix = all.common.groups().to_owned();
    let relay = Relay::new(
        all.common.database_url.clone(),
        kafka.clone(),
        all.relay.config(),
    );
    let tasks = vec![
        tokio::spawn({
            let (c, a, addr, s) = (
                all.common.clone(),
                all.api.clone(),
                all.command_addr.clone(),
                stop.clone(),
            );
            async move { command_api(&c, &a, &addr, s).await }
        }),
        tokio::spawn({
            let (c, a, addr, s) = (
                all.common.clone(),
                all.api.clone(),
                all.query_addr.clone(),
                stop.clone(),
            );
            async move { query_api(&c, &a, &addr, s).await }
        }),
        tokio::spawn({
            let s = stop.clone();
            async move { Ok(relay.run(s).await?) }
        }),
        tokio::spawn({
            let (p, k, c, s) = (
                pool.clone(),
                kafka.clone(),
                all.projector.config(&prefix),
                stop.clone(),
            );
            async move { Ok(projector::run(p, k, c, s).await?) }
        }),
        tokio::spawn({
            let (p, k, c, s) = (
                pool.clone(),
                kafka.clone(),
                all.reserver.config(&prefix),
                stop.clone(),
            );
            async move { Ok(reserver::run(p, k, c, s).await?) }
        }),
    ];
    let mut first_error = None;
    for task in tasks {
        match task.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                tracing::error!(error = %format!("{e:#}"), "a process failed");
                first_error.get_or_insert(e);
            }
            Err(e) => {
                first_error.get_or_insert(anyhow::anyhow!("task panicked: {e}"));
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}
