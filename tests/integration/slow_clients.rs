//! Every listener bounds its connections: a client that sends half a
//! request head is closed after the header-read timeout, an idle
//! keep-alive connection after the keep-alive timeout, and connections over
//! the cap are closed at once, while real requests are answered meanwhile.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::System;

/// `host:port` of an `http://host:port` base URL.
pub(crate) fn authority(base: &str) -> &str {
    base.trim_start_matches("http://").trim_end_matches('/')
}

/// Whether the server has closed `stream` (a read sees the end, or a reset).
pub(crate) async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buf = [0u8; 1024];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, stream.read(&mut buf)).await {
            Err(_) => return false,
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            // A 408 or similar before the close is fine; keep reading.
            Ok(Ok(_)) => continue,
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_heads_are_closed_after_the_header_timeout_while_real_requests_are_answered() {
    let sys = System::start_with(
        &[
            ("STOCKROOM_HEADER_READ_TIMEOUT", "2s"),
            ("STOCKROOM_KEEP_ALIVE_TIMEOUT", "2s"),
        ],
        &[],
    )
    .await;
    let addr = authority(sys.query_url()).to_owned();
    let mut slow = Vec::new();
    for _ in 0..200 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ")
            .await
            .unwrap();
        slow.push(stream);
    }
    let opened = Instant::now();
    // A real request meanwhile is answered promptly.
    let started = Instant::now();
    let r = sys.get("/v1/products").await;
    assert_eq!(r.status(), 200);
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "answered in {:?} among 200 slow clients",
        started.elapsed()
    );
    // Each slow client trickles a byte now and then: only the header
    // timeout, not idleness, can close it.
    for stream in &mut slow {
        let _ = stream.write_all(b"a").await;
    }
    let mut still_open = 0;
    for stream in &mut slow {
        let left = Duration::from_secs(6).saturating_sub(opened.elapsed());
        if !closed_within(stream, left).await {
            still_open += 1;
        }
    }
    assert_eq!(still_open, 0, "every half-sent head is closed within 6 s");
    assert!(
        opened.elapsed() >= Duration::from_millis(1500),
        "closed by the timeout, not at once: {:?}",
        opened.elapsed()
    );
    // An idle keep-alive connection is closed too.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    assert!(
        closed_within(&mut idle, Duration::from_secs(5)).await,
        "an idle keep-alive connection is closed"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn connections_over_the_cap_are_closed_at_once() {
    let sys = System::start_with(&[("STOCKROOM_MAX_CONNECTIONS", "20")], &[]).await;
    let addr = authority(sys.command_url()).to_owned();
    let mut held = Vec::new();
    for _ in 0..20 {
        held.push(TcpStream::connect(&addr).await.unwrap());
    }
    // Give the server the time to accept the twenty.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut extra = TcpStream::connect(&addr).await.unwrap();
    assert!(
        closed_within(&mut extra, Duration::from_secs(1)).await,
        "the 21st connection is closed at once"
    );
    drop(held);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let r = sys
        .http
        .get(format!("{}/healthz", sys.command_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "room again once the others closed");
}
