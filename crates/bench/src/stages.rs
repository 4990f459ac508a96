//! The five stages, each measured beside its raw baseline.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use axum::extract::{Path, State};
use axum::routing::get;
use axum::Json;
use bus::consumer::Delivered;
use bus::producer::{idempotent_producer, ProducerSettings};
use bus::{Envelope, KafkaConfig};
use futures::future::join_all;
use projector::orders::OrdersProjection;
use projector::projection::{use_schema, LIVE_SCHEMA};
use projector::Projection;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use serde_json::{json, Value};
use sqlx::{PgPool, Row};
use store::{read_committed_after, CommitCursor};

use crate::children::{start, BenchDb};
use crate::load::closed_loop;
use crate::pgbench::append_baseline;
use crate::stats::{median, summarise, Summary};
use crate::{BenchConfig, Report};

const ORDER_SELECT: &str =
    "SELECT order_id, customer_id, status, lines, total, currency, placed_at, \
     updated_at, version, rejection FROM read_models.orders WHERE order_id = $1";

/// Placing orders over HTTP against pgbench appending the same events.
pub async fn place_order(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let api = start(
        config,
        &db,
        "command-api",
        &[("STOCKROOM_DB_POOL_SIZE", "40")],
    )
    .await?;
    let base = api.url().to_owned();
    let registered = reqwest::Client::new()
        .post(format!("{base}/v1/products"))
        .json(&json!({"sku": "BENCH-1", "name": "Bench", "unit_price": 100, "currency": "EUR"}))
        .send()
        .await?;
    anyhow::ensure!(
        registered.status().is_success(),
        "registering the bench product failed"
    );
    let max = config.concurrency.iter().copied().max().unwrap_or(1);
    for &clients in &config.concurrency {
        let mut ours = Vec::new();
        let mut raw = Vec::new();
        for _ in 0..config.rounds {
            let url = format!("{base}/v1/orders");
            let (summary, failures) = closed_loop(clients, config.warmup, config.duration, move |client, _| {
                let url = url.clone();
                async move {
                    let body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "BENCH-1", "quantity": 1}]});
                    client.post(url).json(&body).send().await.is_ok_and(|r| r.status().as_u16() == 202)
                }
            })
            .await;
            anyhow::ensure!(
                failures == 0,
                "{failures} orders failed at {clients} clients"
            );
            ours.push(summary);
            raw.push(append_baseline(&db.url, clients, config.duration).await?);
        }
        let (ours, raw) = (median(&ours), median(&raw));
        report.remember(&format!("place-{clients}"), ours);
        let target = (clients == max).then_some(0.5);
        report.throughput(
            &format!("place order, {clients} client(s): HTTP → event committed vs pgbench INSERT"),
            "orders",
            ours,
            raw,
            target,
        );
    }
    api.stop().await;
    Ok(())
}

async fn relay_checkpoint(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT position, (SELECT max(position) FROM events) FROM relay_checkpoint")
            .fetch_one(pool)
            .await?,
    )
}

/// Times `progress` from its first move until it reaches `total`.
async fn time_progress<F, Fut>(
    deadline: Duration,
    total: i64,
    progress: F,
) -> anyhow::Result<Summary>
where
    F: Fn() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<i64>>,
{
    let spawned = Instant::now();
    let give_up = spawned + deadline;
    let (mut started, mut at_start) = (None, 0);
    loop {
        let done = progress().await?;
        if started.is_none() && done > 0 && done < total {
            started = Some(Instant::now());
            at_start = done;
        }
        if done >= total {
            // A backlog done before it could be watched (smoke runs) is timed
            // from the process start, group join included.
            let (elapsed, counted) = match started {
                Some(s) => (s.elapsed(), total - at_start),
                None => (spawned.elapsed(), total),
            };
            let per_second = counted as f64 / elapsed.as_secs_f64().max(1e-3);
            return Ok(Summary {
                per_second,
                ..Summary::default()
            });
        }
        anyhow::ensure!(
            Instant::now() < give_up,
            "no progress to {total} within {deadline:?} (at {done})"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The relay against a plain producer, then the projector against a plain
/// consumer applying the same upserts. Returns the database whose orders read
/// model the query stage reads.
pub async fn relay_and_projector(
    config: &BenchConfig,
    report: &mut Report,
) -> anyhow::Result<BenchDb> {
    let mut db = BenchDb::create(config).await?;
    crate::backlog::orders(&db.pool, config.backlog).await?;
    let total = config.backlog as i64;
    let events = {
        let mut conn = db.pool.acquire().await?;
        let mut all = Vec::with_capacity(config.backlog);
        let mut cursor = CommitCursor::default();
        loop {
            let batch = read_committed_after(&mut conn, cursor, 10_000, &[]).await?;
            let Some(last) = batch.last() else { break };
            cursor = CommitCursor::after(last);
            all.extend(batch);
        }
        all
    };
    let deadline = Duration::from_secs(600);

    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        db.renew_prefix();
        let mut conn = db.pool.acquire().await?;
        bus::relay::republish_all(&mut conn).await?;
        drop(conn);
        // Timed from the process start (connecting and creating topics
        // included, as in the baseline) to the last acknowledgement.
        let started = Instant::now();
        let relay = start(config, &db, "relay", &[]).await?;
        loop {
            let (position, last) = relay_checkpoint(&db.pool).await?;
            if position == last {
                break;
            }
            anyhow::ensure!(started.elapsed() < deadline, "the relay did not finish");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        ours.push(Summary {
            per_second: total as f64 / started.elapsed().as_secs_f64(),
            ..Summary::default()
        });
        relay.stop().await;
        raw.push(raw_produce(config, &events).await?);
    }
    report.remember("relay", median(&ours));
    report.throughput(
        &format!("relay, {total}-event backlog: committed → acked vs plain producer"),
        "events",
        median(&ours),
        median(&raw),
        Some(0.7),
    );

    // The last relay round left the backlog on `{prefix}.orders`.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for round in 0..config.rounds {
        reset_orders_model(&db.pool).await?;
        // Timing starts when the first event lands, so tansu's group join
        // (seconds, for static members) is not counted against the projector.
        let group = format!("{}-r{round}", db.prefix);
        let projector = start(
            config,
            &db,
            "projector",
            &[
                ("STOCKROOM_PROJECTIONS", "orders"),
                ("STOCKROOM_GROUP_PREFIX", &group),
            ],
        )
        .await?;
        let pool = db.pool.clone();
        ours.push(
            time_progress(deadline, total, || async {
                Ok(sqlx::query_scalar(
                    "SELECT count(*) FROM processed_events WHERE consumer = 'orders'",
                )
                .fetch_one(&pool)
                .await?)
            })
            .await?,
        );
        projector.stop().await;
        reset_orders_model(&db.pool).await?;
        raw.push(raw_project(config, &db, total).await?);
    }
    report.remember("projector", median(&ours));
    report.throughput(
        &format!("projector (orders), {total}-event backlog: Kafka → read model vs plain consumer + same upserts"),
        "events",
        median(&ours),
        median(&raw),
        Some(0.7),
    );
    Ok(db)
}

async fn reset_orders_model(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "TRUNCATE read_models.orders; \
         DELETE FROM processed_events WHERE consumer = 'orders'; \
         DELETE FROM consumer_offsets; \
         UPDATE read_models.projection_positions SET position = 0 WHERE name = 'orders'",
    )
    .execute(pool)
    .await?;
    Ok(())
}

/// The same keys and payloads through a plain idempotent producer.
async fn raw_produce(
    config: &BenchConfig,
    events: &[store::RecordedEvent],
) -> anyhow::Result<Summary> {
    let kafka = KafkaConfig {
        topic_prefix: format!("raw{}", uuid::Uuid::new_v4().simple()),
        ..KafkaConfig::new(&config.kafka_brokers)
    };
    let payloads: Vec<(String, Vec<u8>)> = events
        .iter()
        .map(|e| {
            Ok((
                e.aggregate_id.clone(),
                serde_json::to_vec(&Envelope::from(e))?,
            ))
        })
        .collect::<anyhow::Result<_>>()?;
    let started = Instant::now();
    bus::admin::ensure_topics(&kafka).await?;
    let producer = idempotent_producer(&kafka, &ProducerSettings::default())?;
    let topic = kafka.topic(domain::StreamCategory::Order);
    let mut deliveries = Vec::with_capacity(payloads.len());
    for (key, payload) in &payloads {
        let mut record = FutureRecord::to(&topic).key(key.as_str()).payload(payload);
        loop {
            match producer.send_result(record) {
                Ok(d) => break deliveries.push(d),
                Err((_, back)) => {
                    record = back;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        }
    }
    for d in join_all(deliveries).await {
        d.map_err(|_| anyhow!("delivery cancelled"))?
            .map_err(|(e, _)| anyhow!("delivery failed: {e}"))?;
    }
    Ok(Summary {
        per_second: events.len() as f64 / started.elapsed().as_secs_f64(),
        ..Summary::default()
    })
}

/// A plain consumer applying the orders projection's upserts in batches of
/// the projector's size, one transaction per batch, no dedup or offsets.
async fn raw_project(config: &BenchConfig, db: &BenchDb, total: i64) -> anyhow::Result<Summary> {
    let kafka = KafkaConfig::new(&config.kafka_brokers);
    let consumer: StreamConsumer = kafka
        .client()
        .set("group.id", format!("raw{}", uuid::Uuid::new_v4().simple()))
        .set("auto.offset.reset", "earliest")
        .set("enable.auto.commit", "false")
        .create()?;
    consumer.subscribe(&[&format!("{}.orders", db.prefix)])?;
    let (mut applied, mut started) = (0i64, None);
    let deadline = Instant::now() + Duration::from_secs(600);
    while applied < total {
        let mut batch = Vec::with_capacity(500);
        let first = tokio::time::timeout_at(deadline.into(), consumer.recv())
            .await
            .context("plain consumer timed out")??;
        started.get_or_insert_with(Instant::now);
        batch.push(first.detach());
        let linger = tokio::time::Instant::now() + Duration::from_millis(20);
        while batch.len() < 500 {
            match tokio::time::timeout_at(linger, consumer.recv()).await {
                Ok(m) => batch.push(m?.detach()),
                Err(_) => break,
            }
        }
        let mut tx = db.pool.begin().await?;
        use_schema(&mut tx, LIVE_SCHEMA).await?;
        for m in &batch {
            let envelope: Envelope = serde_json::from_slice(m.payload().unwrap_or_default())?;
            let delivered = Delivered {
                topic: m.topic().to_owned(),
                partition: m.partition(),
                offset: m.offset(),
                envelope,
            };
            OrdersProjection
                .apply(&mut tx, &delivered)
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        tx.commit().await?;
        applied += batch.len() as i64;
    }
    let elapsed = started.map(|s| s.elapsed()).unwrap_or_default();
    Ok(Summary {
        per_second: total as f64 / elapsed.as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// `GET /v1/orders/{id}` against a minimal axum handler running the same SQL.
pub async fn query(config: &BenchConfig, db: &BenchDb, report: &mut Report) -> anyhow::Result<()> {
    let ids: Vec<uuid::Uuid> =
        sqlx::query_scalar("SELECT order_id FROM read_models.orders LIMIT 1000")
            .fetch_all(&db.pool)
            .await?;
    anyhow::ensure!(!ids.is_empty(), "no orders to read");
    let api = start(config, db, "query-api", &[]).await?;
    let minimal = minimal_server(&db.url).await?;
    let clients = 8;
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        for (base, into) in [
            (api.url().to_owned(), &mut ours),
            (minimal.clone(), &mut raw),
        ] {
            let ids = ids.clone();
            let (summary, failures) =
                closed_loop(clients, config.warmup, config.duration, move |client, i| {
                    let url = format!("{base}/v1/orders/{}", ids[i as usize % ids.len()]);
                    async move {
                        client
                            .get(url)
                            .send()
                            .await
                            .is_ok_and(|r| r.status().is_success())
                    }
                })
                .await;
            anyhow::ensure!(failures == 0, "{failures} reads failed");
            into.push(summary);
        }
    }
    api.stop().await;
    report.remember("query", median(&ours));
    report.throughput(
        &format!(
            "query GET /v1/orders/{{id}}, {clients} clients vs minimal axum handler, same SQL"
        ),
        "requests",
        median(&ours),
        median(&raw),
        Some(0.7),
    );
    Ok(())
}

async fn minimal_server(url: &str) -> anyhow::Result<String> {
    let pool = sqlx::postgres::PgPoolOptions::new()
        .max_connections(16)
        .connect(url)
        .await?;
    async fn one(
        State(pool): State<PgPool>,
        Path(id): Path<uuid::Uuid>,
    ) -> Result<Json<Value>, axum::http::StatusCode> {
        let row = sqlx::query(ORDER_SELECT)
            .bind(id)
            .fetch_optional(&pool)
            .await
            .map_err(|_| axum::http::StatusCode::INTERNAL_SERVER_ERROR)?
            .ok_or(axum::http::StatusCode::NOT_FOUND)?;
        let get = |c: &str| -> Value {
            row.try_get::<Value, _>(c)
                .or_else(|_| row.try_get::<String, _>(c).map(Value::from))
                .or_else(|_| row.try_get::<i64, _>(c).map(Value::from))
                .or_else(|_| {
                    row.try_get::<uuid::Uuid, _>(c)
                        .map(|u| Value::from(u.to_string()))
                })
                .or_else(|_| {
                    row.try_get::<chrono::DateTime<chrono::Utc>, _>(c)
                        .map(|t| Value::from(t.to_rfc3339()))
                })
                .unwrap_or(Value::Null)
        };
        let columns = [
            "order_id",
            "customer_id",
            "status",
            "lines",
            "total",
            "currency",
            "placed_at",
            "updated_at",
            "version",
            "rejection",
        ];
        Ok(Json(Value::Object(
            columns.iter().map(|c| (c.to_string(), get(c))).collect(),
        )))
    }
    let app = axum::Router::new()
        .route("/v1/orders/{id}", get(one))
        .with_state(pool);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    tokio::spawn(async move { axum::serve(listener, app).await });
    Ok(url)
}

/// Accepted → visible in the query API, under a steady offered load, against
/// the sum of the stage latencies measured above.
pub async fn end_to_end(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let query = start(config, &db, "query-api", &[]).await?;
    let workers = [
        start(config, &db, "relay", &[]).await?,
        start(config, &db, "projector", &[]).await?,
        start(config, &db, "reserver", &[]).await?,
    ];
    let http = reqwest::Client::new();
    let (c, q) = (command.url().to_owned(), query.url().to_owned());
    for (path, body) in [
        (
            "/v1/products",
            json!({"sku": "E2E-1", "name": "E2E", "unit_price": 100, "currency": "EUR"}),
        ),
        ("/v1/stock/E2E-1/receipts", json!({"quantity": 1_000_000})),
    ] {
        anyhow::ensure!(http
            .post(format!("{c}{path}"))
            .json(&body)
            .send()
            .await?
            .status()
            .is_success());
    }
    let one = |http: reqwest::Client, c: String, q: String| async move {
        let body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "E2E-1", "quantity": 1}]});
        let placed: Value = http
            .post(format!("{c}/v1/orders"))
            .json(&body)
            .send()
            .await
            .ok()?
            .json()
            .await
            .ok()?;
        let accepted = Instant::now();
        let url = format!("{q}/v1/orders/{}", placed["order_id"].as_str()?);
        let give_up = accepted + Duration::from_secs(30);
        while Instant::now() < give_up {
            if http.get(&url).send().await.ok()?.status().is_success() {
                return Some(accepted.elapsed());
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        None
    };
    // Warm up until the pipeline answers at all (consumer groups join in seconds).
    let warm_until = Instant::now() + Duration::from_secs(60);
    while one(http.clone(), c.clone(), q.clone()).await.is_none() {
        anyhow::ensure!(
            Instant::now() < warm_until,
            "the pipeline never delivered an order"
        );
    }
    let mut rounds = Vec::new();
    for _ in 0..config.rounds {
        let interval = Duration::from_secs_f64(1.0 / f64::from(config.e2e_rate.max(1)));
        let mut ticker = tokio::time::interval(interval);
        let end = Instant::now() + config.duration;
        let mut tasks = Vec::new();
        while Instant::now() < end {
            ticker.tick().await;
            tasks.push(tokio::spawn(one(http.clone(), c.clone(), q.clone())));
        }
        let latencies: Vec<Duration> = join_all(tasks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        rounds.push(summarise(latencies, config.duration));
    }
    for w in workers {
        w.stop().await;
    }
    command.stop().await;
    query.stop().await;
    let (place, read) = (report.recall("place-1"), report.recall("query"));
    let per_event =
        |name: &str| Duration::from_secs_f64(1.0 / report.recall(name).per_second.max(1e-9));
    let pipeline = per_event("relay") + per_event("projector");
    let sum = Summary {
        per_second: 0.0,
        p50: place.p50 + read.p50 + pipeline,
        p99: place.p99 + read.p99 + pipeline,
    };
    report.latency(
        &format!(
            "end to end at {} orders/s offered: accepted → visible vs sum of stage latencies",
            config.e2e_rate
        ),
        median(&rounds),
        sum,
        Duration::from_millis(100),
    );
    Ok(())
}
