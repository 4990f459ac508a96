//! The raw Postgres baseline: `pgbench -M prepared` running the statement an
//! order placement runs (the append of its `OrderPlaced` event, on condition
//! that the product has not changed), at the same concurrency.

use std::time::Duration;

use anyhow::{anyhow, Context};

use crate::stats::{summarise, Summary};

/// What a placement without an idempotency key sends, statement for
/// statement: the conditional append of `store::append_streams_priced_at`
/// on its own, outside a transaction block, with a payload of the same shape
/// and size. The product was read once, before the run, as the command API
/// keeps it after its first read, at catalogue version `catalogue`. pgbench
/// sends it once per order; the command API sends one such statement for
/// all the orders that arrive together (`store::GroupAppend`), which is why
/// its ratio can pass 1 at high concurrency.
fn place_order_script(catalogue: i64) -> String {
    r#"INSERT INTO events (event_id, stream_id, category, aggregate_id, stream_version, event_type, schema_version, data, correlation_id, causation_id, actor, trace_parent)
SELECT gen_random_uuid(), 'order-' || x.u, 'order', x.u::text, 1, 'OrderPlaced', 1, jsonb_build_object('order_id', x.u, 'customer_id', gen_random_uuid(), 'lines', '[{"sku":"BENCH-1","quantity":1,"unit_price":100,"line_total":100}]'::jsonb, 'total', 100, 'currency', 'EUR'), gen_random_uuid(), gen_random_uuid(), NULL, NULL FROM (SELECT gen_random_uuid() AS u) x
WHERE (SELECT version FROM catalogue_version) = :catalogue
RETURNING position, stream_id, stream_version;
"#
    .replace(":catalogue", &catalogue.to_string())
}

/// Runs pgbench against `url` with `clients` for `duration` (whole seconds),
/// the catalogue being at version `catalogue`.
pub async fn append_baseline(
    url: &str,
    catalogue: i64,
    clients: usize,
    duration: Duration,
) -> anyhow::Result<Summary> {
    let dir = std::env::temp_dir().join(format!(
        "stockroom-pgbench-{}",
        uuid::Uuid::new_v4().simple()
    ));
    std::fs::create_dir_all(&dir)?;
    let script = dir.join("append.sql");
    std::fs::write(&script, place_order_script(catalogue))?;
    let seconds = duration.as_secs().max(1);
    // scripts/test and scripts/bench point at the cluster's own pgbench.
    let program = std::env::var("STOCKROOM_PGBENCH").unwrap_or_else(|_| "pgbench".to_owned());
    let output = tokio::process::Command::new(program)
        .current_dir(&dir)
        .args(["-n", "-M", "prepared", "--log", "--log-prefix=tx"])
        .args([
            "-c",
            &clients.to_string(),
            "-j",
            &clients.clamp(1, 2).to_string(),
        ])
        .args(["-T", &seconds.to_string()])
        .arg("-f")
        .arg(&script)
        .arg(url)
        .output()
        .await
        .context("running pgbench (Debian package postgresql-15)")?;
    if !output.status.success() {
        return Err(anyhow!(
            "pgbench failed: {}",
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    let mut latencies = Vec::new();
    for entry in std::fs::read_dir(&dir)? {
        let path = entry?.path();
        if !path
            .file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with("tx"))
        {
            continue;
        }
        // client_id transaction_no latency_us script_no epoch epoch_us
        for line in std::fs::read_to_string(&path)?.lines() {
            if let Some(us) = line
                .split_whitespace()
                .nth(2)
                .and_then(|v| v.parse::<u64>().ok())
            {
                latencies.push(Duration::from_micros(us));
            }
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(summarise(latencies, Duration::from_secs(seconds)))
}
