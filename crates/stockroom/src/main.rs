//! `stockroom`: every Stockroom process as a subcommand.

mod cli;
mod config;
mod doctor;
mod keys;
mod one_time;
mod parked;
mod processes;
mod projections;
mod schemas;
mod shutdown;
mod telemetry;
mod users;
mod webhooks;

use clap::Parser;

/// mimalloc instead of the system allocator: requests, events and rows are
/// many small short-lived allocations, where glibc's malloc and free took
/// 13% of the command API's CPU at 32 clients (perf, docs/profile).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = cli::Cli::parse();
    telemetry::init(&cli.log_format);
    config::warn_of_retired_variables();
    // Before anything records: metrics recorded earlier would be lost.
    web::metrics::prometheus();
    let result = processes::dispatch(cli).await;
    if let Err(e) = &result {
        tracing::error!(error = %format!("{e:#}"), "stockroom failed");
    }
    result
}
