//! What one sales channel may hold unpaid. A storefront key could otherwise
//! reserve every SKU's whole stock for a payment timeout at a time by
//! ordering exactly what is available and never paying; so an order through
//! a channel has a most units, and a channel a most orders open and unpaid.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Mutex;

/// The bounds, configured once per process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChannelLimits {
    /// Most units (summed over lines) in one order placed through a channel.
    pub max_units_per_order: i64,
    /// Most orders of one channel placed or confirmed and not yet paid,
    /// cancelled, rejected or expired.
    pub max_open_orders: i64,
}

impl Default for ChannelLimits {
    fn default() -> Self {
        Self {
            max_units_per_order: 100,
            max_open_orders: 1_000,
        }
    }
}

/// How long a channel's count of open orders is trusted before it is
/// counted again; placements meanwhile are added to it as they succeed.
const RECOUNT: Duration = Duration::from_secs(1);

/// Open unpaid orders per channel, counted from the orders read model at
/// most once per [`RECOUNT`] per channel (channels are the few that keys
/// are bound to).
#[derive(Clone, Default)]
pub struct OpenOrders {
    counts: Arc<Mutex<HashMap<String, (Instant, i64)>>>,
}

impl OpenOrders {
    /// The channel's open unpaid orders, as of at most [`RECOUNT`] ago plus
    /// what this process placed since.
    pub async fn count(&self, pool: &PgPool, channel: &str) -> Result<i64, sqlx::Error> {
        let mut counts = self.counts.lock().await;
        if let Some((at, open)) = counts.get(channel) {
            if at.elapsed() < RECOUNT {
                return Ok(*open);
            }
        }
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM read_models.orders \
             WHERE channel = $1 AND status IN ('placed', 'confirmed')",
        )
        .bind(channel)
        .fetch_one(pool)
        .await?;
        counts.insert(channel.to_owned(), (Instant::now(), open));
        Ok(open)
    }

    /// Counts an order just placed through `channel`, until the next recount
    /// sees it in the read model.
    pub async fn placed(&self, channel: &str) {
        if let Some((_, open)) = self.counts.lock().await.get_mut(channel) {
            *open += 1;
        }
    }
}
