//! The housekeeping loop: purges bookkeeping rows past their retention.

use std::time::Duration;

use bus::run::pause_unless_stopped;
use sqlx::PgPool;
use store::retention::{purge, Retention};
use tokio::sync::watch;

/// Purges every `interval` until `shutdown` turns true. A failed round is
/// logged and tried again next time; it never stops the process.
pub async fn run(
    pool: PgPool,
    retention: Retention,
    interval: Duration,
    mut shutdown: watch::Receiver<bool>,
) -> Result<(), std::convert::Infallible> {
    loop {
        let mut stop = shutdown.clone();
        let purged = tokio::select! {
            purged = purge(&pool, &retention) => purged,
            _ = stop.wait_for(|stopped| *stopped) => return Ok(()),
        };
        match purged {
            Ok(purged) if purged != Default::default() => {
                tracing::info!(?purged, "purged rows past their retention");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %store::error_chain(&e), "retention round failed"),
        }
        if !pause_unless_stopped(interval, &mut shutdown).await {
            return Ok(());
        }
    }
}
