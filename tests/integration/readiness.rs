//! `/readyz` answers from a cached probe: a burst of unauthenticated calls
//! costs at most one database query and broker fetch, not one each.

use std::time::Duration;

use crate::support::System;

/// `stockroom_readiness_probes_total` on the process at `base`.
async fn probes_run(sys: &System, base: &str) -> u64 {
    sys.metrics_text(base)
        .await
        .lines()
        .find_map(|l| l.strip_prefix("stockroom_readiness_probes_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_readiness_calls_share_one_probe() {
    let sys = System::start_with(&[], &[]).await;
    let anonymous = reqwest::Client::new();
    for base in [sys.command_url(), sys.query_url()] {
        let before = probes_run(&sys, base).await;
        // Past the cache's second, so the burst needs a probe of its own.
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let calls = (0..100).map(|_| {
            let (client, url) = (anonymous.clone(), format!("{base}/readyz"));
            tokio::spawn(async move { client.get(url).send().await.unwrap().status() })
        });
        for status in futures::future::join_all(calls).await {
            assert_eq!(status.unwrap(), 200);
        }
        let after = probes_run(&sys, base).await;
        assert!(
            after - before <= 2,
            "{base}: 100 calls ran {} probes",
            after - before
        );
        assert!(after > before, "{base}: the burst needed a probe");
    }
}
