//! Liveness, readiness and metrics.

use sqlx::PgPool;
use web::probes::BeforeScrape;
use web::SecureRouter;

use crate::AppState;

pub(super) fn routes(router: SecureRouter<AppState>, pool: PgPool) -> SecureRouter<AppState> {
    web::probes::routes(router, RelayLag(pool))
}

/// Relay lag is measured from the log on each scrape, so it is right
/// whichever relay instance is active.
#[derive(Clone)]
struct RelayLag(PgPool);

impl BeforeScrape for RelayLag {
    async fn refresh(&self) {
        if let Ok(mut conn) = self.0.acquire().await {
            if let Ok(lag) = bus::relay::relay_lag(&mut conn).await {
                bus::relay::record_lag(lag);
            }
        }
    }
}
