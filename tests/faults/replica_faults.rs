//! The query API on a replica that falls behind, dies, or loses its WAL
//! stream: a read at a position the replica cannot show waits for the bound
//! and answers 503 (nothing is promoted, nothing answers older data), and
//! reads are served again once the replica is back.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::infra::exclusive;
use crate::support::process::run_tool;
use crate::support::{eventually, standby, System};

/// What one read at its order's position answered.
#[derive(Debug)]
struct Read {
    status: u16,
    wanted: i64,
    at: Option<i64>,
    found: bool,
    retry_after: Option<String>,
    took: Duration,
}

/// Places an order: its id and position.
async fn place(sys: &System) -> (String, i64) {
    let r = sys
        .post(
            "/v1/orders",
            json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "FAIL-1", "quantity": 1}]}),
        )
        .await;
    assert_eq!(
        r.status(),
        202,
        "orders are taken on the primary throughout"
    );
    let placed: Value = r.json().await.unwrap();
    (
        placed["order_id"].as_str().unwrap().to_owned(),
        placed["position"].as_i64().unwrap(),
    )
}

/// Reads order `id` with `X-Min-Position: wanted`.
async fn read_at(sys: &System, id: &str, wanted: i64) -> Read {
    let started = Instant::now();
    let r = sys
        .http
        .get(format!("{}/v1/orders/{id}", sys.query_url()))
        .header("x-min-position", wanted.to_string())
        .send()
        .await
        .unwrap();
    let header = |name: &str| {
        r.headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    let (at, retry_after) = (
        header("x-projection-position").and_then(|p| p.parse().ok()),
        header("retry-after"),
    );
    let status = r.status().as_u16();
    let body: Value = r.json().await.unwrap_or(Value::Null);
    Read {
        status,
        wanted,
        at,
        found: body["order_id"].as_str() == Some(id),
        retry_after,
        took: started.elapsed(),
    }
}

/// Places an order and reads it back at once at its position.
async fn place_and_read(sys: &System) -> Read {
    let (id, wanted) = place(sys).await;
    read_at(sys, &id, wanted).await
}

/// Every read was a fresh 200 or a 503 saying when to retry: never an
/// answer older than asked.
fn never_stale(reads: &[Read]) {
    for read in reads {
        match read.status {
            200 => assert!(
                read.found && read.at.is_some_and(|at| at >= read.wanted),
                "a 200 older than its position: {read:?}"
            ),
            503 => assert_eq!(read.retry_after.as_deref(), Some("1"), "{read:?}"),
            other => panic!("neither fresh nor 503 ({other}): {read:?}"),
        }
    }
}

async fn served_again(sys: &System) {
    eventually(
        "reads to be served again",
        Duration::from_secs(60),
        || async {
            let read = place_and_read(sys).await;
            never_stale(std::slice::from_ref(&read));
            (read.status == 200).then_some(())
        },
    )
    .await;
}

/// The event feed's settled head, checked against its first page: no event
/// above it is served.
async fn feed_head(sys: &System) -> i64 {
    let r = sys.get("/v1/events?limit=1000").await;
    assert_eq!(r.status(), 200);
    let page: Value = r.json().await.unwrap();
    let head = page["head"].as_i64().unwrap();
    let last = page["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|e| e["global_position"].as_i64())
        .max()
        .unwrap_or(0);
    assert!(last <= head, "the feed served {last} above its head {head}");
    head
}

/// The read was a 200 at or past its position.
fn fresh(read: &Read) {
    assert_eq!(read.status, 200, "{read:?}");
    never_stale(std::slice::from_ref(read));
}

/// Waits until the event feed's head reaches `position`.
async fn feed_reaches(sys: &System, position: i64) {
    eventually(
        "the feed to reach the position",
        Duration::from_secs(10),
        || async { (feed_head(sys).await >= position).then_some(()) },
    )
    .await;
}

/// The query API's `stockroom_replica_lag_bytes`, once it has measured.
async fn lag_bytes(sys: &System) -> Option<f64> {
    sys.metrics_text(sys.query_url())
        .await
        .lines()
        .find_map(|l| l.strip_prefix("stockroom_replica_lag_bytes "))
        .and_then(|v| v.parse().ok())
}

/// Replay paused on the standby until dropped (even when the test fails:
/// the standby serves every test after it).
struct Paused;

impl Paused {
    async fn start() -> Self {
        standby::pause_replay(true).await;
        Self
    }
}

impl Drop for Paused {
    fn drop(&mut self) {
        std::thread::spawn(move || {
            tokio::runtime::Runtime::new()
                .unwrap()
                .block_on(standby::pause_replay(false));
        })
        .join()
        .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_whose_replay_is_paused_answers_reads_past_it_503_after_the_bound_and_never_stale(
) {
    let _serial = exclusive().await;
    let sys = standby::system(&[("STOCKROOM_MAX_WAIT", "1s")], &["projector", "reserver"]).await;
    // The standby has the database (its creation replayed) before its
    // replay is paused.
    standby::pool(&sys.db).await;
    sys.stock_product("FAIL-1", 100, 100).await;
    let first = place_and_read(&sys).await;
    fresh(&first);
    feed_reaches(&sys, first.wanted).await;

    let paused = Paused::start().await;
    let (second, at_second) = place(&sys).await;
    let read = read_at(&sys, &second, at_second).await;
    assert_eq!(
        read.status, 503,
        "a position not replayed is not served: {read:?}"
    );
    never_stale(std::slice::from_ref(&read));
    assert!(
        read.took >= Duration::from_millis(900) && read.took < Duration::from_secs(4),
        "waited for the bound (1 s): {read:?}"
    );
    // Without a position the replica answers with what it has replayed.
    let r = sys.get(&format!("/v1/orders/{second}")).await;
    assert_eq!(
        r.status(),
        404,
        "the paused replica has not replayed the order"
    );
    // The feed serves nothing as final that the replica has not replayed.
    assert!(
        feed_head(&sys).await < at_second,
        "the feed passed the replica's replay"
    );
    eventually(
        "the lag metric to show the pause",
        Duration::from_secs(10),
        || async { lag_bytes(&sys).await.filter(|bytes| *bytes > 0.0) },
    )
    .await;
    let (_, doctor) = run_tool(&["doctor"], &sys.env).await;
    assert!(
        doctor
            .lines()
            .any(|l| l.contains("query replica:") && !l.contains(": 0 bytes")),
        "doctor shows the replica's lag: {doctor}"
    );

    drop(paused);
    // Once replayed, the position is served.
    fresh(&read_at(&sys, &second, at_second).await);
    feed_reaches(&sys, at_second).await;
}

/// Starts the standby again if a test stopped it, even when it fails.
struct Restart;

impl Drop for Restart {
    fn drop(&mut self) {
        standby::start();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_through_a_replica_that_dies_or_loses_its_stream_answer_503_never_stale_data() {
    let _serial = exclusive().await;
    let sys = standby::system(&[("STOCKROOM_MAX_WAIT", "1s")], &["projector", "reserver"]).await;
    let primary = sys.db.pool.clone();
    sys.stock_product("FAIL-1", 100, 1_000_000).await;
    let mut healthy = Vec::new();
    for _ in 0..10 {
        healthy.push(place_and_read(&sys).await);
    }
    never_stale(&healthy);
    assert!(healthy.iter().all(|r| r.status == 200), "{healthy:?}");

    standby::kill();
    let restart = Restart;
    let mut down = Vec::new();
    for _ in 0..4 {
        down.push(place_and_read(&sys).await);
    }
    never_stale(&down);
    assert!(
        down.iter().all(|r| r.status == 503),
        "with the replica down, reads answer 503: {down:?}"
    );
    let ready = sys.get("/readyz").await;
    assert_eq!(
        ready.status(),
        503,
        "not ready without the replica it reads"
    );
    drop(restart);
    served_again(&sys).await;

    assert!(
        standby::cut_stream(&primary).await,
        "the primary's walsender was ended"
    );
    let mut cut = Vec::new();
    for _ in 0..10 {
        cut.push(place_and_read(&sys).await);
    }
    never_stale(&cut);
    served_again(&sys).await;
}
