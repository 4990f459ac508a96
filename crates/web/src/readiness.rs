//! `/readyz`'s answer from a cached probe: at most one probe in flight, and
//! its result reused while it is younger than [`FRESH_FOR`], so a flood of
//! unauthenticated calls costs one query and one broker fetch a second.

use std::sync::Arc;
use std::time::{Duration, Instant};

use bus::admin::BrokerProbe;
use schemars::JsonSchema;
use serde::Serialize;
use sqlx::PgPool;
use tokio::sync::Mutex;

/// How long a probe's result answers `/readyz`.
pub const FRESH_FOR: Duration = Duration::from_secs(1);

/// `/readyz`'s answer.
#[derive(Debug, Clone, Copy, Serialize, JsonSchema)]
pub struct Readiness {
    /// Whether the database answered in time.
    pub database: bool,
    /// Whether the broker answered in time (does not decide readiness).
    pub broker: bool,
}

/// The latest probe's result, shared by every clone.
#[derive(Clone, Default)]
pub struct ReadinessCache {
    // Held while a probe runs: callers meanwhile wait for its result
    // instead of starting their own.
    latest: Arc<Mutex<Option<(Instant, Readiness)>>>,
}

impl ReadinessCache {
    /// The cached result if fresh, else a new probe's (counted in
    /// `stockroom_readiness_probes_total`).
    pub async fn get(&self, pool: &PgPool, broker: &BrokerProbe, timeout: Duration) -> Readiness {
        let mut latest = self.latest.lock().await;
        if let Some((at, readiness)) = *latest {
            if at.elapsed() < FRESH_FOR {
                return readiness;
            }
        }
        metrics::counter!("stockroom_readiness_probes_total").increment(1);
        let readiness = probe(pool, broker, timeout).await;
        *latest = Some((Instant::now(), readiness));
        readiness
    }
}

async fn probe(pool: &PgPool, broker: &BrokerProbe, timeout: Duration) -> Readiness {
    let database = async {
        tokio::time::timeout(timeout, sqlx::query("SELECT 1").execute(pool))
            .await
            .is_ok_and(|r| r.is_ok())
    };
    let (database, broker) = tokio::join!(database, broker.reachable(timeout));
    Readiness { database, broker }
}
