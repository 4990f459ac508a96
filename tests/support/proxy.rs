//! A round-robin TCP proxy in front of several instances of an API, as a
//! simple load balancer would be: each connection goes to the next one.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};

/// A running proxy.
pub struct RoundRobin {
    /// `http://127.0.0.1:port` of the proxy.
    pub url: String,
    /// Connections sent to each backend, in the order given.
    pub sent: Arc<Vec<AtomicUsize>>,
}

/// Starts a proxy to `backends` (`http://host:port` each); it runs until the
/// test's runtime ends.
pub async fn round_robin(backends: &[&str]) -> RoundRobin {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let backends: Vec<String> = backends
        .iter()
        .map(|b| b.trim_start_matches("http://").to_owned())
        .collect();
    let sent = Arc::new(
        backends
            .iter()
            .map(|_| AtomicUsize::new(0))
            .collect::<Vec<_>>(),
    );
    let counts = sent.clone();
    tokio::spawn(async move {
        let mut next = 0;
        while let Ok((mut client, _)) = listener.accept().await {
            let chosen = next % backends.len();
            next += 1;
            counts[chosen].fetch_add(1, Ordering::Relaxed);
            let backend = backends[chosen].clone();
            tokio::spawn(async move {
                if let Ok(mut server) = TcpStream::connect(&backend).await {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                }
            });
        }
    });
    RoundRobin { url, sent }
}

/// A client that opens a connection per request (so the proxy spreads
/// requests, not just connections), sending `token`.
pub fn client_per_request(token: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        reqwest::header::HeaderValue::from_str(&format!("Bearer {token}")).unwrap(),
    );
    reqwest::Client::builder()
        .default_headers(headers)
        .pool_max_idle_per_host(0)
        .build()
        .unwrap()
}
