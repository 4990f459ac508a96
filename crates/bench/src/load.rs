//! A closed-loop HTTP load generator: each client sends its next request as
//! soon as the previous one answered, through its own connection pool.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::stats::{summarise, Summary};

/// Drives `clients` loops of `request`, each with its own client sending
/// `token`, for `warmup` (discarded) plus `duration` (measured). `request` returns whether the call succeeded;
/// failures are counted, not timed.
pub async fn closed_loop<F, Fut>(
    token: &str,
    clients: usize,
    warmup: Duration,
    duration: Duration,
    request: F,
) -> (Summary, u64)
where
    F: Fn(reqwest::Client, u64) -> Fut + Clone + Send + Sync + 'static,
    Fut: Future<Output = bool> + Send,
{
    let start = Instant::now();
    let measure_from = start + warmup;
    let end = measure_from + duration;
    let workers: Vec<_> = (0..clients)
        .map(|c| {
            let request = request.clone();
            let client = crate::children::client_with(token);
            tokio::spawn(async move {
                let Ok(client) = client else {
                    return (Vec::new(), 1);
                };
                let (mut latencies, mut failures, mut i) = (Vec::new(), 0u64, 0u64);
                loop {
                    let began = Instant::now();
                    if began >= end {
                        break;
                    }
                    let ok = request(client.clone(), (c as u64) << 40 | i).await;
                    i += 1;
                    let finished = Instant::now();
                    if began >= measure_from && finished <= end {
                        if ok {
                            latencies.push(finished - began);
                        } else {
                            failures += 1;
                        }
                    }
                }
                (latencies, failures)
            })
        })
        .collect();
    let mut all = Vec::new();
    let mut failures = 0;
    for w in workers {
        if let Ok((l, f)) = w.await {
            all.extend(l);
            failures += f;
        }
    }
    (summarise(all, duration), failures)
}

/// Whether a GET of `url` answered with a success status.
pub async fn get_succeeds(client: reqwest::Client, url: String) -> bool {
    client
        .get(url)
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
}
