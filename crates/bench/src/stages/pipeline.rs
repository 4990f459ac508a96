//! The relay and the projector on a backlog, against a plain producer and a
//! plain consumer doing the same work.

use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use bus::producer::{idempotent_producer, ProducerSettings};
use bus::Delivered;
use bus::{Envelope, KafkaConfig};
use futures::future::join_all;
use projector::orders::OrdersProjection;
use projector::projection::{scope_batch, LIVE_SCHEMA};
use projector::Projection;
use rdkafka::consumer::{Consumer, StreamConsumer};
use rdkafka::message::Message;
use rdkafka::producer::FutureRecord;
use sqlx::PgPool;
use store::{read_committed_after, CommitCursor};

use crate::children::{start, BenchDb};
use crate::stats::{median, Summary};
use crate::{BenchConfig, Report};

async fn relay_settled(pool: &PgPool) -> anyhow::Result<(i64, i64)> {
    Ok(
        sqlx::query_as("SELECT settled, (SELECT max(position) FROM events) FROM subscriptions WHERE name = 'relay'")
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
        bus::relay::republish(&mut conn, None).await?;
        drop(conn);
        // Timed from the process start (connecting and creating topics
        // included, as in the baseline) to the last acknowledgement.
        let started = Instant::now();
        let relay = start(config, &db, "relay", &[]).await?;
        loop {
            let (settled, last) = relay_settled(&db.pool).await?;
            if settled >= last {
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
                ("STOCKROOM_SOURCE", "kafka"),
            ],
        )
        .await?;
        ours.push(time_orders_projection(&db.pool, deadline, total).await?);
        projector.stop().await;
        reset_orders_model(&db.pool).await?;
        raw.push(raw_project(config, &db, total).await?);
    }
    report.throughput(
        &format!("projector (orders, `--source kafka`), {total}-event backlog: Kafka → read model vs plain consumer + same upserts"),
        "events",
        median(&ours),
        median(&raw),
        Some(0.7),
    );

    // The default: the projector follows the log in Postgres.
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        reset_orders_model(&db.pool).await?;
        let projector = start(
            config,
            &db,
            "projector",
            &[("STOCKROOM_PROJECTIONS", "orders")],
        )
        .await?;
        ours.push(time_orders_projection(&db.pool, deadline, total).await?);
        projector.stop().await;
        reset_orders_model(&db.pool).await?;
        raw.push(raw_project_from_log(&db, &events).await?);
    }
    report.remember("projector", median(&ours));
    report.throughput(
        &format!("projector (orders), {total}-event backlog: log → read model vs plain SELECT batches + same upserts"),
        "events",
        median(&ours),
        median(&raw),
        Some(0.7),
    );
    Ok(db)
}

/// The orders projection's upserts over the log read in position order, in
/// batches of the projector's size, one transaction per batch, without
/// checkpoints, deduplication or a commit-safe horizon.
async fn raw_project_from_log(
    db: &BenchDb,
    events: &[store::RecordedEvent],
) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let mut last = 0i64;
    loop {
        let sql = format!(
            "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT 500",
            store::read::EVENT_COLUMNS
        );
        let rows = sqlx::query(&sql).bind(last).fetch_all(&db.pool).await?;
        let Some(tail) = rows.last() else { break };
        last = sqlx::Row::try_get(tail, "position")?;
        let mut tx = db.pool.begin().await?;
        scope_batch(&mut tx, LIVE_SCHEMA).await?;
        for row in &rows {
            let event = store::read::from_row(row)?;
            OrdersProjection
                .apply(&mut tx, &Delivered::from_log(&event))
                .await
                .map_err(|e| anyhow!("{e}"))?;
        }
        tx.commit().await?;
    }
    Ok(Summary {
        per_second: events.len() as f64 / started.elapsed().as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// Times the orders projection (already started) through the backlog, by
/// the events it handled: ids recorded from Kafka, or counted with the log
/// checkpoint.
async fn time_orders_projection(
    pool: &PgPool,
    deadline: Duration,
    total: i64,
) -> anyhow::Result<Summary> {
    time_progress(deadline, total, || async {
        Ok(
            sqlx::query_scalar(
                "SELECT (SELECT count(*) FROM processed_events WHERE consumer = 'orders') \
                      + coalesce((SELECT handled_events FROM subscriptions WHERE name = 'orders'), 0)",
            )
            .fetch_one(pool)
            .await?,
        )
    })
    .await
}

async fn reset_orders_model(pool: &PgPool) -> anyhow::Result<()> {
    sqlx::raw_sql(
        "TRUNCATE read_models.orders; \
         DELETE FROM processed_events WHERE consumer = 'orders'; \
         DELETE FROM consumer_offsets; \
         DELETE FROM subscriptions WHERE name = 'orders'; \
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
        scope_batch(&mut tx, LIVE_SCHEMA).await?;
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
