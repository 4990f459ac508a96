//! Placed → confirmed and accepted → visible under a steady load.

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::{json, Value};

use crate::chart::{line_chart, Series};
use crate::children::{start, BenchDb};
use crate::stats::{median, summarise, Summary};
use crate::{BenchConfig, Report};

/// Pause before asking again after a read that timed out (503).
const POLL: Duration = Duration::from_millis(10);

/// SKUs the end-to-end orders are spread over.
const SKUS: usize = 50;

/// Where the catalogue's stock is, and what an order holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Catalogue {
    /// One-line orders, every SKU's stock at `default` (the v1 shop).
    OneLine,
    /// Two-line orders of distinct SKUs, SKU `i` stocked at location
    /// `i % locations` (`default` among them): with more than one location
    /// an order is split whenever its SKUs are stocked apart, which is
    /// `1 − 1/locations` of orders.
    TwoLines {
        /// Locations the catalogue is spread over.
        locations: usize,
    },
}

impl Catalogue {
    fn location_of(self, sku: usize) -> String {
        match self {
            Self::TwoLines { locations } if sku % locations != 0 => {
                format!("site-{}", sku % locations)
            }
            _ => "default".to_owned(),
        }
    }

    fn lines(self) -> Value {
        let pick = || uuid::Uuid::new_v4().as_u128() % SKUS as u128;
        let first = pick();
        match self {
            Self::OneLine => json!([{"sku": format!("E2E-{first}"), "quantity": 1}]),
            Self::TwoLines { .. } => {
                let second = (first + 1 + pick() % (SKUS as u128 - 1)) % SKUS as u128;
                json!([{"sku": format!("E2E-{first}"), "quantity": 1},
                       {"sku": format!("E2E-{second}"), "quantity": 1}])
            }
        }
    }
}

/// What one steady-load run measured (medians over rounds).
#[derive(Debug, Clone, Copy)]
pub struct Measured {
    /// Placed → confirmed, from the log.
    pub confirmed: Summary,
    /// Accepted → visible through the query API (X-Min-Position).
    pub visible: Summary,
    /// `POST /v1/orders` as the client saw it.
    pub post: Summary,
}

/// The targets of one offered rate.
#[derive(Debug, Clone, Copy)]
pub struct Targets {
    /// Placed → confirmed p99.
    pub confirmed: Duration,
    /// Accepted → visible p99.
    pub visible: Duration,
    /// `POST /v1/orders` p99, if it has one.
    pub post: Option<Duration>,
}

/// Writes the rows of a steady-load run at `rate` orders/s for `duration`,
/// against the sum of the stage latencies measured by the other stages.
pub fn end_to_end(
    report: &mut Report,
    rate: u32,
    duration: Duration,
    measured: &Measured,
    targets: Targets,
) {
    let (place, read) = (report.recall("place-1"), report.recall("query"));
    let stages = ["relay", "projector"].map(|name| report.recall(name).per_second);
    // Zero when the stages were not measured (`--only-end-to-end`).
    let sum = if stages.iter().all(|rate| *rate > 0.0) {
        let pipeline: Duration = stages
            .iter()
            .map(|rate| Duration::from_secs_f64(1.0 / rate))
            .sum();
        Summary {
            per_second: 0.0,
            p50: place.p50 + read.p50 + pipeline,
            p99: place.p99 + read.p99 + pipeline,
        }
    } else {
        Summary::default()
    };
    let at = format!("end to end at {rate} orders/s offered for {duration:?}");
    report.latency(
        &format!("{at}: placed → confirmed (in the log) vs sum of stage latencies"),
        measured.confirmed,
        sum,
        targets.confirmed,
    );
    report.latency(
        &format!("{at}: accepted → visible (query API) vs sum of stage latencies"),
        measured.visible,
        sum,
        targets.visible,
    );
    if let Some(post) = targets.post {
        report.latency(
            &format!("{at}: POST /v1/orders vs place order alone at 1 client"),
            measured.post,
            place,
            post,
        );
    }
}

/// Offers `rate` one-line orders/s for `duration`, `rounds` times, on a
/// fresh database with every process running; medians over the rounds.
pub async fn steady_load(
    config: &BenchConfig,
    rate: u32,
    duration: Duration,
    rounds: usize,
    event_streams: usize,
) -> anyhow::Result<Measured> {
    steady_load_of(
        config,
        rate,
        duration,
        rounds,
        Catalogue::OneLine,
        event_streams,
    )
    .await
}

/// [`steady_load`] with the orders and stock of `catalogue`.
pub async fn steady_load_of(
    config: &BenchConfig,
    rate: u32,
    duration: Duration,
    rounds: usize,
    catalogue: Catalogue,
    event_streams: usize,
) -> anyhow::Result<Measured> {
    let db = BenchDb::create(config).await?;
    let command = start(config, &db, "command-api", &[]).await?;
    let replica = match (&config.replica_admin_url, config.query_on_replica) {
        (Some(admin), true) => Some(db.on_replica(admin).await?),
        _ => None,
    };
    let mut query_env = vec![("STOCKROOM_MAX_WAIT", "10s")];
    if let Some(replica) = &replica {
        query_env.push(("STOCKROOM_QUERY_DATABASE_URL", replica));
    }
    let query = start(config, &db, "query-api", &query_env).await?;
    let _streams = super::feed::follow_streams(&db, query.url(), event_streams).await?;
    let workers = [
        start(config, &db, "relay", &[]).await?,
        start(config, &db, "projector", &[]).await?,
        start(config, &db, "reserver", &[]).await?,
    ];
    let http = db.client()?;
    let (c, q) = (command.url().to_owned(), query.url().to_owned());
    if let Catalogue::TwoLines { locations } = catalogue {
        for n in 1..locations {
            let body = json!({"code": format!("site-{n}"), "name": "E2E", "priority": n});
            let r = http
                .post(format!("{c}/v1/locations"))
                .json(&body)
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "registering site-{n} failed");
        }
    }
    // Orders spread over a catalogue, as in a shop.
    for i in 0..SKUS {
        let sku = format!("E2E-{i}");
        for (path, body) in [
            (
                "/v1/products".to_owned(),
                json!({"sku": sku, "name": "E2E", "unit_price": 100, "currency": "EUR"}),
            ),
            (
                format!("/v1/stock/{sku}/receipts"),
                json!({"quantity": 1_000_000, "location": catalogue.location_of(i)}),
            ),
        ] {
            let r = http.post(format!("{c}{path}")).json(&body).send().await?;
            anyhow::ensure!(r.status().is_success(), "setting up {sku} failed");
        }
    }
    // Returns the order id, how long the POST took and how long the order
    // took to become readable after it was accepted.
    let one = |http: reqwest::Client, c: String, q: String| async move {
        let body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": catalogue.lines()});
        let sent = Instant::now();
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
        let order_id = uuid::Uuid::parse_str(placed["order_id"].as_str()?).ok()?;
        let url = format!("{q}/v1/orders/{order_id}");
        let give_up = accepted + Duration::from_secs(30);
        let position = placed["position"].as_i64()?;
        // One read that waits server-side for the order's position
        // (read-your-writes), as a frontend would: no polling load.
        while Instant::now() < give_up {
            let read = http
                .get(&url)
                .header("X-Min-Position", position)
                .send()
                .await
                .ok()?;
            if read.status().is_success() {
                return Some((order_id, accepted - sent, accepted.elapsed()));
            }
            tokio::time::sleep(POLL).await;
        }
        None
    };
    // Warm up until the pipeline answers at all.
    let warm_until = Instant::now() + Duration::from_secs(60);
    while one(http.clone(), c.clone(), q.clone()).await.is_none() {
        anyhow::ensure!(
            Instant::now() < warm_until,
            "the pipeline never delivered an order"
        );
    }
    let (mut visible, mut confirmed, mut posts) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        let interval = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
        let mut ticker = tokio::time::interval(interval);
        let end = Instant::now() + duration;
        let mut tasks = Vec::new();
        while Instant::now() < end {
            ticker.tick().await;
            tasks.push(tokio::spawn(one(http.clone(), c.clone(), q.clone())));
        }
        let results: Vec<(uuid::Uuid, Duration, Duration)> = join_all(tasks)
            .await
            .into_iter()
            .filter_map(|r| r.ok().flatten())
            .collect();
        let ids: Vec<uuid::Uuid> = results.iter().map(|(id, _, _)| *id).collect();
        posts.push(summarise(
            results.iter().map(|(_, post, _)| *post).collect(),
            duration,
        ));
        visible.push(summarise(
            results.iter().map(|(_, _, seen)| *seen).collect(),
            duration,
        ));
        confirmed.push(placed_to_confirmed(&db, &ids, duration).await?);
    }
    for w in workers {
        w.stop().await;
    }
    command.stop().await;
    query.stop().await;
    Ok(Measured {
        confirmed: median(&confirmed),
        visible: median(&visible),
        post: median(&posts),
    })
}

/// The steps of a rate search (see [`ramp`]).
#[derive(Debug, Clone)]
pub struct Ramp {
    /// Orders/s added at each step.
    step: u32,
    /// The placed → confirmed p99 a rate must stay under.
    under: Duration,
    /// How long each step offers its rate.
    step_duration: Duration,
    /// Every step run, the last one the first to fail.
    steps: Vec<(u32, Measured)>,
    /// The highest rate that passed, with its placed → confirmed.
    best: Option<(u32, Summary)>,
}

/// Steps the offered rate up by `step`, each step offered for
/// `step_duration`, until placed → confirmed p99 reaches `under` or the
/// pipeline stops keeping up.
pub async fn ramp(
    config: &BenchConfig,
    step: u32,
    step_duration: Duration,
    under: Duration,
) -> anyhow::Result<Ramp> {
    let mut best = None;
    let mut steps = Vec::new();
    let mut rate = step;
    while rate <= step * 20 {
        let measured = steady_load(config, rate, step_duration, 1, 0).await?;
        steps.push((rate, measured));
        // Every order offered must have been placed, not just the fast ones.
        let kept_up = measured.confirmed.per_second >= f64::from(rate) * 0.95;
        if measured.confirmed.p99 >= under || !kept_up {
            break;
        }
        best = Some((rate, measured.confirmed));
        rate += step;
    }
    Ok(Ramp {
        step,
        under,
        step_duration,
        steps,
        best,
    })
}

/// Writes the highest steady rate of `ramp` beside pgbench's transaction
/// rate for the same appends on this machine, and (for the layout that is
/// not `layout`-qualified) the ramp's chart.
pub fn highest_rate(report: &mut Report, ramp: &Ramp, layout: &str) {
    if layout.is_empty() {
        report.charts.push((
            "benchmarks-latency.svg".to_owned(),
            latency_chart(&ramp.steps, ramp.step_duration),
        ));
    }
    let pgbench = report.recall("pgbench-32");
    let (rate, confirmed) = ramp.best.unwrap_or((0, Summary::default()));
    report.rows.push(crate::report::Row {
        stage: format!(
            "highest steady rate with placed → confirmed p99 < {} ms{layout} (steps of {} orders/s, {:?} each) vs pgbench running the placement's statements at 32 clients",
            ramp.under.as_millis(),
            ramp.step,
            ramp.step_duration
        ),
        ours: format!("{rate} orders/s (p99 {:.1} ms)", confirmed.p99.as_secs_f64() * 1e3),
        baseline: format!("{:.0} transactions/s", pgbench.per_second),
        ratio: f64::from(rate) / pgbench.per_second.max(1e-9),
        target: None,
    });
}

/// Placed → confirmed of `orders`, from the log: the confirmation's append
/// time less the placement's. Waits (bounded) for every order to be decided;
/// an order never confirmed counts as the longest wait.
async fn placed_to_confirmed(
    db: &BenchDb,
    orders: &[uuid::Uuid],
    elapsed: Duration,
) -> anyhow::Result<Summary> {
    let ids: Vec<String> = orders.iter().map(ToString::to_string).collect();
    let latencies = confirmation_waits(db, &ids).await?.into_values().collect();
    Ok(summarise(latencies, elapsed))
}

/// Each of `orders`' placed → confirmed, by order id, once every one is
/// decided or a minute passed (an order never confirmed: 60 s).
pub(super) async fn confirmation_waits(
    db: &BenchDb,
    ids: &[String],
) -> anyhow::Result<std::collections::HashMap<String, Duration>> {
    let give_up = Instant::now() + Duration::from_secs(60);
    loop {
        let decided: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE category = 'order' AND aggregate_id = ANY($1) \
               AND event_type IN ('OrderConfirmed', 'OrderRejected')",
        )
        .bind(ids)
        .fetch_one(&db.pool)
        .await?;
        if decided >= ids.len() as i64 || Instant::now() > give_up {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let rows: Vec<(String, f64)> = sqlx::query_as(
        "SELECT p.aggregate_id, \
                coalesce(extract(epoch FROM c.occurred_at - p.occurred_at)::float8, 60) \
         FROM events p LEFT JOIN events c \
           ON c.stream_id = p.stream_id AND c.event_type = 'OrderConfirmed' \
         WHERE p.category = 'order' AND p.event_type = 'OrderPlaced' AND p.aggregate_id = ANY($1)",
    )
    .bind(ids)
    .fetch_all(&db.pool)
    .await?;
    Ok(rows
        .into_iter()
        .map(|(id, s)| (id, Duration::from_secs_f64(s.max(0.0))))
        .collect())
}

/// Latencies at each step of the rate search, as a chart.
fn latency_chart(steps: &[(u32, Measured)], step_duration: Duration) -> String {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let line = |name: &str, color: &'static str, pick: fn(&Measured) -> Duration| Series {
        name: name.to_owned(),
        color,
        points: steps
            .iter()
            .map(|(rate, m)| (f64::from(*rate), ms(pick(m))))
            .collect(),
    };
    line_chart(
        &format!("Latency by offered rate ({step_duration:?} per step, same machine)"),
        "orders per second offered",
        "milliseconds (log scale)",
        &[
            line("placed → confirmed p50", "#4477aa", |m| m.confirmed.p50),
            line("placed → confirmed p99", "#223f66", |m| m.confirmed.p99),
            line("accepted → visible p99", "#cc6677", |m| m.visible.p99),
            line("POST /v1/orders p99", "#999933", |m| m.post.p99),
        ],
        &[(50.0, "50 ms"), (100.0, "100 ms")],
    )
}

/// What one primary carries: the rate search on one database, then with
/// every read of the query API on the replica, beside pgbench's rate for
/// the placement on the primary.
pub async fn one_primary(config: &BenchConfig, report: &mut Report) -> anyhow::Result<()> {
    anyhow::ensure!(
        config.replica_admin_url.is_some(),
        "--only-replica needs --replica-database-url (scripts/bench --only-replica starts a standby)"
    );
    let (step, step_duration) = config.ramp.unwrap_or((100, Duration::from_secs(10)));
    let under = Duration::from_millis(100);
    crate::children::settle(config).await?;
    let one_database = ramp(config, step, step_duration, under).await?;
    crate::children::settle(config).await?;
    let on_replica = BenchConfig {
        query_on_replica: true,
        ..config.clone()
    };
    let with_replica = ramp(&on_replica, step, step_duration, under).await?;
    crate::children::settle(config).await?;
    super::place_order(config, report).await?;
    highest_rate(report, &one_database, " on one database");
    highest_rate(report, &with_replica, ", query API on a streaming replica");
    Ok(())
}
