//! The event feed: reading a large log from position 0 through
//! `GET /v1/events` against a plain keyset `SELECT` of the same rows; how
//! long a long poll takes to deliver a commit at a steady rate against a
//! plain `LISTEN` on the same commits; and the order path at 500 orders/s
//! with 200 server-sent event streams open against the same without.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::de::IgnoredAny;
use serde::Deserialize;
use sqlx::postgres::PgListener;

use crate::children::{start, BenchDb};
use crate::stats::{median, summarise, Summary};
use crate::{BenchConfig, Report};

/// Events per page, for both readers.
const PAGE: i64 = 1_000;
/// Commits per second while long polls wait (the 500 orders/s).
const RATE: u64 = 500;

/// What the reader needs of a page (the events are skipped over, not
/// decoded: a client's own decoding is not the feed's cost).
#[derive(Deserialize)]
struct Page {
    events: Vec<IgnoredAny>,
    next_after: i64,
    head: i64,
}

/// Seeds `config.scale_orders` events, reads them back both ways, then
/// measures long-poll delivery.
pub async fn feed(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let db = BenchDb::create(config).await?;
    let total = config.scale_orders;
    crate::backlog::orders(&db.pool, total).await?;
    let api = start(config, &db, "query-api", &[]).await?;
    let client = db.client()?;
    let base = api.url().to_owned();
    wait_for_head(&client, &base, total as i64).await?;
    // Once unmeasured: the first read of freshly written rows sets their
    // hint bits (writes), which neither reader should be charged for.
    select_all(&db, total as i64).await?;
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds.min(2) {
        ours.push(read_feed(&client, &base, total as i64).await?);
        raw.push(select_all(&db, total as i64).await?);
    }
    report.throughput(
        &format!(
            "read {total} events from position 0 with GET /v1/events (pages of {PAGE}) vs a keyset SELECT of the same rows"
        ),
        "events",
        median(&ours),
        median(&raw),
        Some(0.5),
    );
    let (mut ours, mut raw) = (Vec::new(), Vec::new());
    for _ in 0..config.rounds {
        let (poll, listen) = long_poll(config, &db, &client, &base).await?;
        ours.push(poll);
        raw.push(listen);
    }
    report.latency_against(
        &format!(
            "commit to delivery by a long poll (GET /v1/events?wait=25) at {RATE} commits/s vs LISTEN on the same commits"
        ),
        median(&ours),
        median(&raw),
        Duration::from_millis(50),
    );
    api.stop().await;
    Ok(())
}

async fn get_page(client: &reqwest::Client, url: &str) -> anyhow::Result<Page> {
    let answer = client.get(url).send().await?.error_for_status()?;
    Ok(serde_json::from_slice(&answer.bytes().await?)?)
}

/// Waits until the feed's horizon covers the seeded log.
async fn wait_for_head(client: &reqwest::Client, base: &str, total: i64) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let page = get_page(client, &format!("{base}/v1/events?after={total}&limit=1")).await?;
        if page.head >= total {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "the feed's head stays at {}",
            page.head
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Pages through the whole feed; events per second.
async fn read_feed(client: &reqwest::Client, base: &str, total: i64) -> anyhow::Result<Summary> {
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    while after < total {
        let page = get_page(
            client,
            &format!("{base}/v1/events?after={after}&limit={PAGE}"),
        )
        .await?;
        anyhow::ensure!(page.next_after > after, "the feed stopped at {after}");
        read += page.events.len();
        after = page.next_after;
    }
    anyhow::ensure!(read as i64 == total, "read {read} of {total} events");
    Ok(Summary {
        per_second: read as f64 / started.elapsed().as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// The same rows, the same pages, straight from Postgres.
async fn select_all(db: &BenchDb, total: i64) -> anyhow::Result<Summary> {
    let sql = format!(
        "SELECT {} FROM events WHERE position > $1 ORDER BY position LIMIT $2",
        store::read::EVENT_COLUMNS
    );
    let started = Instant::now();
    let (mut after, mut read) = (0, 0);
    while after < total {
        let rows = sqlx::query(&sql)
            .bind(after)
            .bind(PAGE)
            .fetch_all(&db.pool)
            .await?;
        let events = rows
            .iter()
            .map(store::read::from_row)
            .collect::<Result<Vec<_>, _>>()?;
        let Some(last) = events.last() else { break };
        after = last.position;
        read += events.len();
    }
    Ok(Summary {
        per_second: read as f64 / started.elapsed().as_secs_f64().max(1e-3),
        ..Summary::default()
    })
}

/// Commits one order at a time at [`RATE`] for the round's duration while
/// a long poller and a plain listener wait; the latency from each commit's
/// return to its delivery, for each.
async fn long_poll(
    config: &BenchConfig,
    db: &BenchDb,
    client: &reqwest::Client,
    base: &str,
) -> anyhow::Result<(Summary, Summary)> {
    let committed: Arc<Mutex<HashMap<i64, Instant>>> = Arc::default();
    let start_after: i64 = sqlx::query_scalar("SELECT coalesce(max(position), 0) FROM events")
        .fetch_one(&db.pool)
        .await?;
    let mut listener = PgListener::connect_with(&db.pool).await?;
    listener.listen(store::notify::EVENTS_CHANNEL).await?;
    let run_for = config.warmup + config.duration;
    // Open loop: each tick's commit is its own task, so a slow commit
    // (an fsync) never lowers the rate offered.
    let appender = {
        let (pool, committed) = (db.pool.clone(), committed.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
            let mut commits = Vec::new();
            let end = Instant::now() + run_for;
            while Instant::now() < end {
                tick.tick().await;
                let (pool, committed) = (pool.clone(), committed.clone());
                commits.push(tokio::spawn(async move {
                    let position = crate::backlog::one_order(&pool).await?;
                    committed
                        .lock()
                        .expect("not poisoned")
                        .insert(position, Instant::now());
                    // Announced after its commit, as the command API
                    // announces every append: what both the long poll and
                    // the listener wake on (the command API's payload is
                    // empty; the position here only tells the listener
                    // which commit woke it).
                    sqlx::query("SELECT pg_notify($1, $2)")
                        .bind(store::notify::EVENTS_CHANNEL)
                        .bind(position.to_string())
                        .execute(&pool)
                        .await?;
                    anyhow::Ok(())
                }));
            }
            for commit in commits {
                commit.await??;
            }
            anyhow::Ok(())
        })
    };
    let listened = tokio::spawn(async move {
        let mut at = Vec::new();
        let end = Instant::now() + run_for + Duration::from_secs(1);
        while let Ok(Ok(n)) = tokio::time::timeout_at(end.into(), listener.recv()).await {
            if let Ok(position) = n.payload().parse::<i64>() {
                at.push((position, Instant::now()));
            }
        }
        at
    });
    let measure_from = Instant::now() + config.warmup;
    let mut delivered: Vec<(i64, Instant)> = Vec::new();
    let (mut after, end) = (start_after, Instant::now() + run_for);
    while Instant::now() < end {
        let page: serde_json::Value = client
            .get(format!(
                "{base}/v1/events?after={after}&limit={PAGE}&wait=25"
            ))
            .send()
            .await?
            .error_for_status()?
            .json()
            .await?;
        let now = Instant::now();
        for e in page["events"].as_array().into_iter().flatten() {
            delivered.push((e["global_position"].as_i64().unwrap_or_default(), now));
        }
        after = page["next_after"].as_i64().unwrap_or(after);
    }
    appender.await??;
    let notified = listened.await?;
    let committed = committed.lock().expect("not poisoned").clone();
    let since_commit = |position: &i64, at: Instant| {
        committed
            .get(position)
            .filter(|c| **c >= measure_from)
            .map(|c| at.saturating_duration_since(*c))
    };
    let poll: Vec<Duration> = delivered
        .iter()
        .filter_map(|(p, at)| since_commit(p, *at))
        .collect();
    let listen: Vec<Duration> = notified
        .iter()
        .filter_map(|(p, at)| since_commit(p, *at))
        .collect();
    anyhow::ensure!(!poll.is_empty(), "the long poll delivered nothing");
    Ok((
        summarise(poll, config.duration),
        summarise(listen, config.duration),
    ))
}

/// The order path at [`RATE`] orders/s with `config.event_streams` event
/// streams following the feed, against the same load without them.
pub async fn event_streams(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    let duration = config
        .e2e_rates
        .first()
        .map_or(config.duration, |(_, d)| *d);
    let rate = RATE as u32;
    let streams = config.event_streams;
    // Rounds alternate which side goes first, so neither always runs on
    // the heels of the stage before (a dropped database's clean-up, a
    // checkpoint).
    let (mut with, mut without) = (Vec::new(), Vec::new());
    for round in 0..config.rounds.max(1) {
        let order = if round % 2 == 0 {
            [0, streams]
        } else {
            [streams, 0]
        };
        for open in order {
            crate::children::settle(config).await?;
            let measured = super::steady_load(config, rate, duration, 1, open).await?;
            if open == 0 { &mut without } else { &mut with }.push(measured);
        }
    }
    let median_of = |rounds: &[super::Measured]| super::Measured {
        confirmed: median(&rounds.iter().map(|m| m.confirmed).collect::<Vec<_>>()),
        visible: median(&rounds.iter().map(|m| m.visible).collect::<Vec<_>>()),
        post: median(&rounds.iter().map(|m| m.post).collect::<Vec<_>>()),
    };
    let (with, without) = (median_of(&with), median_of(&without));
    for (what, ours, base) in [
        ("POST /v1/orders", with.post, without.post),
        ("placed → confirmed", with.confirmed, without.confirmed),
    ] {
        report.p99_ratio(
            &format!(
                "{what} at {rate} orders/s with {streams} event streams (GET /v1/events/stream) open vs without"
            ),
            ours,
            base,
            1.2,
        );
    }
    Ok(())
}

/// Opens `count` event streams on the query API at `base` (four per key,
/// as a key may hold), each reading and dropping what it is sent; they
/// end when the returned handle is dropped. The readers run on a thread
/// and runtime of their own, as clients elsewhere would: sharing the load
/// generator's scheduler, 200 readers would delay its requests in the
/// queue and charge that to the order path.
pub(super) async fn follow_streams(
    db: &BenchDb,
    base: &str,
    count: usize,
) -> anyhow::Result<StreamReaders> {
    if count == 0 {
        return Ok(StreamReaders {
            stop: None,
            thread: None,
        });
    }
    let mut tokens = Vec::new();
    for i in (0..count).step_by(4) {
        let key = store::keys::NewKey {
            name: format!("bench-stream-{i}"),
            role: "subscriber".to_owned(),
            channel: None,
            expires_at: None,
            rate_per_second: None,
        };
        let (_, token) = store::keys::create(&db.pool, &key, "system:bench").await?;
        tokens.push(token);
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let (opened_tx, opened) = tokio::sync::oneshot::channel::<anyhow::Result<()>>();
    let base = base.to_owned();
    let thread = std::thread::spawn(move || {
        let runtime = match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime,
            Err(e) => {
                let _ = opened_tx.send(Err(e.into()));
                return;
            }
        };
        runtime.block_on(async move {
            let mut readers = Vec::with_capacity(count);
            let open = async {
                for i in 0..count {
                    let client = crate::children::client_with(&tokens[i / 4])?;
                    let mut response = open_stream(&client, &base).await?;
                    readers.push(AbortOnDrop(tokio::spawn(async move {
                        while let Ok(Some(_)) = response.chunk().await {}
                    })));
                }
                anyhow::Ok(())
            };
            let _ = opened_tx.send(open.await);
            let _ = stopped.await;
            drop(readers);
        });
    });
    opened.await??;
    Ok(StreamReaders {
        stop: Some(stop),
        thread: Some(thread),
    })
}

/// Event streams being read on their own thread; dropped, they close.
pub struct StreamReaders {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for StreamReaders {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// One event stream, asked again while the API refuses new keys' first
/// requests (it bounds key lookups per client: a 429 with `Retry-After`).
async fn open_stream(client: &reqwest::Client, base: &str) -> anyhow::Result<reqwest::Response> {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let response = client
            .get(format!("{base}/v1/events/stream"))
            .send()
            .await?;
        if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS || Instant::now() > give_up {
            return Ok(response.error_for_status()?);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// A task that ends when its handle is dropped.
pub(super) struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
