//! The replica the query API reads, when it reads one: how far behind the
//! primary it is, as a metric.

use std::time::Duration;

use sqlx::PgPool;
use store::replica::ReplicaLag;
use tokio::sync::watch;

/// How often the replica's lag is measured.
const LAG_SAMPLE: Duration = Duration::from_secs(1);

/// Measures `replica`'s lag behind `primary` every second until `shutdown`
/// and sets `stockroom_replica_lag_bytes` and `stockroom_replica_lag_seconds`
/// (`stockroom_replica_up` says whether both answered).
pub fn watch_lag(primary: PgPool, replica: PgPool, mut shutdown: watch::Receiver<bool>) {
    tokio::spawn(async move {
        while !*shutdown.borrow() {
            match store::replica::lag(&primary, &replica).await {
                Ok(ReplicaLag { bytes, seconds }) => {
                    metrics::gauge!("stockroom_replica_lag_bytes").set(bytes as f64);
                    metrics::gauge!("stockroom_replica_lag_seconds").set(seconds);
                    metrics::gauge!("stockroom_replica_up").set(1.0);
                }
                Err(e) => {
                    metrics::gauge!("stockroom_replica_up").set(0.0);
                    tracing::warn!(error = %store::error_chain(&e), "measuring the replica's lag failed; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(LAG_SAMPLE) => {}
                _ = shutdown.wait_for(|stopped| *stopped) => return,
            }
        }
    });
}
