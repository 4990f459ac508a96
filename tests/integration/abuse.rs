//! Abuse with no valid key, against the real processes, as issue 27 measured
//! it: made-up HTTP methods, random well-formed keys and connections that
//! send half a request head, all at once. Nothing unauthenticated may cost
//! more than a refusal: memory and metric series stay bounded, key lookups
//! stay within the per-address budget, slow connections are closed, and a
//! real key from another address is answered promptly throughout. `STOCKROOM_TEST_ABUSE_SCALE`
//! multiplies the counts (1 is 4,000 requests of each kind and 500 slow
//! connections; the figures were 20,000, 48,000 and 2,000).

use std::time::{Duration, Instant};

use reqwest::Method;
use tokio::io::AsyncWriteExt;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::slow_clients::{authority, closed_within};
use crate::support::System;

/// Key lookups that found no key.
const UNKNOWN_KEYS: &str = "stockroom_auth_failures_total{reason=\"unknown\"}";

fn scale() -> usize {
    std::env::var("STOCKROOM_TEST_ABUSE_SCALE")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
}

/// A client sending `token`, from `address`.
fn from_address(token: &str, address: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {token}").parse().unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .local_address(address.parse::<std::net::IpAddr>().unwrap())
        .build()
        .unwrap()
}

/// Resident memory of a process, in MiB.
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kib / 1024.0
}

/// Lines of the command API's `/metrics`, and one counter's value.
async fn metrics(sys: &System, counter: &str) -> (usize, f64) {
    let text = sys.metrics_text(sys.command_url()).await;
    let value = text
        .lines()
        .filter(|l| l.starts_with(counter))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    (text.lines().count(), value)
}

/// Sends `count` requests made by `request`, 32 at a time; returns how
/// many were answered with a client error (refused, as they should be).
async fn flood(count: usize, request: impl Fn(usize) -> reqwest::RequestBuilder) -> usize {
    let mut inflight = JoinSet::new();
    let mut refused = 0;
    for i in 0..count {
        if inflight.len() >= 32 {
            refused += usize::from(inflight.join_next().await.unwrap().unwrap());
        }
        let sent = request(i).send();
        inflight.spawn(async move { sent.await.is_ok_and(|r| r.status().is_client_error()) });
    }
    refused + inflight.join_all().await.into_iter().filter(|r| *r).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn nothing_unauthenticated_costs_more_than_a_refusal() {
    let n = 4_000 * scale();
    let slow = 500 * scale();
    let sys = System::start_with(&[("STOCKROOM_HEADER_READ_TIMEOUT", "2s")], &[]).await;
    sys.stock_product("ABUSE-1", 100, 10).await;
    // The real client comes from an address of its own (all of 127/8 is
    // loopback): the flood's address has used up its share of connections.
    let real = from_address(&sys.db.create_key("staff", None).await, "127.0.0.2");
    let base = sys.command_url().to_owned();
    let pid = sys.command.pid();

    // Warm up what a real client would, so growth below is the flood's.
    assert_eq!(flood(200, |_| real.get(format!("{base}/healthz"))).await, 0);
    let (lines_before, unknown_before) = metrics(&sys, UNKNOWN_KEYS).await;
    let rss_before = rss_mib(pid);

    // Half-sent request heads, held open.
    let address = authority(&base).to_owned();
    let mut held = Vec::with_capacity(slow);
    // From an address of their own: past its share of connections they are
    // closed at once, the rest after the header timeout.
    for _ in 0..slow {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.bind("127.0.0.3:0".parse().unwrap()).unwrap();
        let mut stream = socket.connect(address.parse().unwrap()).await.unwrap();
        // A write to a connection already closed for being over the share
        // may fail; it is counted as closed below.
        let _ = stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            .await;
        held.push(stream);
    }

    // A real key receives stock every 50 ms on the flooded process.
    let started = Instant::now();
    let probe = {
        let (real, base) = (real.clone(), base.clone());
        tokio::spawn(async move {
            let mut worst = Duration::ZERO;
            let mut answered = 0;
            while started.elapsed() < Duration::from_secs(8) {
                let t = Instant::now();
                let r = real
                    .post(format!("{base}/v1/stock/ABUSE-1/receipts"))
                    .json(&serde_json::json!({"quantity": 1}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 200);
                worst = worst.max(t.elapsed());
                answered += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            (answered, worst)
        })
    };
    let anonymous = reqwest::Client::new();
    // Two rounds, each with methods and keys of its own: whatever the first
    // adds to /metrics (the closed set's series for these routes), the
    // second may add nothing.
    let mut lines_between = 0;
    for round in 0..2 {
        let methods = flood(n / 2, |i| {
            let method = Method::from_bytes(format!("M{round}{i:05}").as_bytes()).unwrap();
            anonymous.request(method, format!("{base}/healthz"))
        });
        let keys = flood(n / 2, |_| {
            let token = format!(
                "stockroom_{}_{}{}",
                Uuid::new_v4().simple(),
                Uuid::new_v4().simple(),
                Uuid::new_v4().simple()
            );
            anonymous
                .get(format!("{base}/v1/stock/ABUSE-1"))
                .bearer_auth(token)
        });
        let (methods, keys) = tokio::join!(methods, keys);
        assert_eq!(
            (methods, keys),
            (n / 2, n / 2),
            "every request is answered, and refused"
        );
        if round == 0 {
            lines_between = metrics(&sys, "stockroom_auth").await.0;
        }
    }
    let flood_took = started.elapsed();
    let (answered, worst) = probe.await.unwrap();

    // Every half-sent head was closed by the server.
    let mut closed = 0;
    for mut stream in held {
        if closed_within(&mut stream, Duration::from_secs(5)).await {
            closed += 1;
        }
    }

    let (lines_after, unknown_after) = metrics(&sys, UNKNOWN_KEYS).await;
    let rss_after = rss_mib(pid);
    let lookups = unknown_after - unknown_before;
    eprintln!(
        "abuse: {n} made-up methods + {n} random keys in {:.1} s; /metrics {lines_before} -> {lines_after} lines; \
         (after the first half: {lines_between}); RSS {rss_before:.0} -> {rss_after:.0} MiB; {lookups} key lookups; {closed}/{slow} slow connections closed; \
         real key: {answered} answers, worst {:.0} ms",
        flood_took.as_secs_f64(),
        worst.as_secs_f64() * 1e3
    );
    assert!(
        lines_after <= lines_between,
        "metric series grew with the flood: {lines_before} -> {lines_between} -> {lines_after}"
    );
    assert!(
        rss_after - rss_before < 40.0,
        "RSS grew {rss_before:.0} -> {rss_after:.0} MiB"
    );
    // 20 lookups a second from one address, and a few over for timing.
    let budget = 20.0 * (flood_took.as_secs_f64() + 1.0) + 20.0;
    assert!(
        lookups <= budget,
        "{lookups} key lookups, budget {budget:.0}"
    );
    assert_eq!(closed, slow, "every half-sent head is closed");
    assert!(
        worst < Duration::from_secs(1),
        "a real key waited {worst:?}"
    );
}
