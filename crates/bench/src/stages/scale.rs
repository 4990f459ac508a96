//! A large log: rebuilding the orders read model from it against a plain
//! `COPY` of the same rows, and listing orders by customer and by status
//! through the query API against the same SQL sent straight to Postgres.

use std::time::{Duration, Instant};

use anyhow::Context;
use futures::TryStreamExt;

use crate::children::{start, BenchDb};
use crate::load::{closed_loop, get_succeeds};
use crate::stats::{median, summarise, Summary};
use crate::{BenchConfig, Report};

/// Clients reading at once.
const CLIENTS: usize = 4;

/// Customers whose orders the list stage asks for.
const CUSTOMERS: i64 = 1_000;

/// Seeds `config.scale_orders` placed orders, rebuilds the orders read model
/// from them, then reads it.
pub async fn scale(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let total = config.scale_orders;
    crate::backlog::orders(&db.pool, total).await?;
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds.min(2) {
        ours.push(rebuild(config, &db, total).await?);
        raw.push(copy_baseline(&db).await?);
    }
    report.throughput(
        &format!(
            "rebuild the orders read model from {total} events (`projections rebuild orders`) vs COPY of the same rows into the same table"
        ),
        "events",
        median(&ours),
        median(&raw),
        None,
    );
    let took = Duration::from_secs_f64(total as f64 / median(&ours).per_second.max(1e-9));
    report.deadline(
        &format!("rebuild of the orders read model from {total} events: time taken"),
        took,
        Duration::from_secs(120),
    );
    list_orders(config, &db, report).await
}

/// Runs `stockroom projections rebuild orders` and times it.
async fn rebuild(config: &BenchConfig, db: &BenchDb, total: usize) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let status = tokio::process::Command::new(&config.exe)
        .args(["projections", "rebuild", "orders"])
        .env("DATABASE_URL", &db.url)
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .await
        .context("running projections rebuild")?;
    anyhow::ensure!(status.success(), "projections rebuild orders failed");
    Ok(Summary {
        per_second: total as f64 / started.elapsed().as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// The rebuilt rows written by `COPY` into an empty copy of the table, its
/// indexes included, as the fastest way Postgres has to fill it.
async fn copy_baseline(db: &BenchDb) -> anyhow::Result<Summary> {
    let mut conn = db.pool.acquire().await?;
    let chunks: Vec<_> = conn
        .copy_out_raw("COPY read_models.orders TO STDOUT")
        .await?
        .try_collect()
        .await?;
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.orders")
        .fetch_one(&mut *conn)
        .await?;
    sqlx::raw_sql(
        "DROP TABLE IF EXISTS public.copy_baseline; \
         CREATE TABLE public.copy_baseline (LIKE read_models.orders INCLUDING ALL)",
    )
    .execute(&mut *conn)
    .await?;
    let started = Instant::now();
    let mut copy = conn
        .copy_in_raw("COPY public.copy_baseline FROM STDIN")
        .await?;
    for chunk in chunks {
        copy.send(chunk).await?;
    }
    copy.finish().await?;
    let elapsed = started.elapsed();
    sqlx::query("DROP TABLE public.copy_baseline")
        .execute(&mut *conn)
        .await?;
    Ok(Summary {
        per_second: count as f64 / elapsed.as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// `GET /v1/orders?customer_id=` and `?status=` against the same SQL sent
/// straight to Postgres by the same number of clients.
async fn list_orders(
    config: &BenchConfig,
    db: &BenchDb,
    report: &mut Report,
) -> anyhow::Result<()> {
    let customers: Vec<String> = sqlx::query_scalar(
        // A spread of customers, the same in every run (one sort, once).
        "SELECT customer_id FROM read_models.orders ORDER BY md5(order_id::text) LIMIT $1",
    )
    .bind(CUSTOMERS)
    .fetch_all(&db.pool)
    .await?;
    anyhow::ensure!(!customers.is_empty(), "no orders to list");
    let api = start(config, db, "query-api", &[]).await?;
    let base = api.url().to_owned();
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM read_models.orders")
        .fetch_one(&db.pool)
        .await?;
    for filter in ["customer_id", "status"] {
        let (mut ours, mut raw) = (Vec::new(), Vec::new());
        for _ in 0..config.rounds {
            let (base, ids) = (base.clone(), customers.clone());
            let (summary, failures) = closed_loop(
                &db.token,
                CLIENTS,
                config.warmup,
                config.duration,
                move |client, i| {
                    let url = match filter {
                        "customer_id" => format!(
                            "{base}/v1/orders?customer_id={}",
                            ids[i as usize % ids.len()]
                        ),
                        _ => format!("{base}/v1/orders?status=placed"),
                    };
                    get_succeeds(client, url)
                },
            )
            .await;
            anyhow::ensure!(failures == 0, "{failures} order lists failed");
            ours.push(summary);
            raw.push(raw_list(db, filter, &customers, config).await?);
        }
        report.latency_against(
            &format!(
                "GET /v1/orders?{filter}= on {count} orders, {CLIENTS} clients vs the same SQL straight to Postgres"
            ),
            median(&ours),
            median(&raw),
            Duration::from_millis(5),
        );
    }
    api.stop().await;
    Ok(())
}

/// The query API's list statement for `filter`, sent by `CLIENTS` tasks.
async fn raw_list(
    db: &BenchDb,
    filter: &str,
    customers: &[String],
    config: &BenchConfig,
) -> anyhow::Result<Summary> {
    let sql = format!(
        "SELECT order_id, customer_id, status, lines, total, currency, placed_at, \
                updated_at, version, rejection, channel \
         FROM read_models.orders WHERE {} = $1 \
         ORDER BY placed_at DESC, order_id DESC LIMIT 51",
        if filter == "customer_id" {
            "customer_id"
        } else {
            "status"
        }
    );
    let end = Instant::now() + config.warmup + config.duration;
    let measure_from = Instant::now() + config.warmup;
    let tasks = (0..CLIENTS).map(|c| {
        let (pool, sql, customers) = (db.pool.clone(), sql.clone(), customers.to_vec());
        let by_customer = filter == "customer_id";
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut i = c;
            while Instant::now() < end {
                let began = Instant::now();
                let query = sqlx::query(&sql);
                let query = if by_customer {
                    query.bind(customers[i % customers.len()].clone())
                } else {
                    query.bind("placed")
                };
                query.fetch_all(&pool).await?;
                if began >= measure_from {
                    latencies.push(began.elapsed());
                }
                i += CLIENTS;
            }
            anyhow::Ok(latencies)
        })
    });
    let mut all = Vec::new();
    for latencies in futures::future::join_all(tasks).await {
        all.extend(latencies??);
    }
    Ok(summarise(all, config.duration))
}
