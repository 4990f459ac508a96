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
/// counted again; placements meanwhile are added to it as they are admitted.
const RECOUNT: Duration = Duration::from_secs(1);

/// One channel's count: when it was read from the read model, and what
/// this process admitted since.
#[derive(Default)]
struct Count {
    counted_at: Option<Instant>,
    open: i64,
}

/// Open unpaid orders per channel, counted from the orders read model at
/// most once per [`RECOUNT`] per channel (channels are the few that keys
/// are bound to). Each channel has a lock of its own, so a slow recount of
/// one never holds up another.
#[derive(Clone, Default)]
pub struct OpenOrders {
    counts: Arc<std::sync::Mutex<HashMap<String, Arc<Mutex<Count>>>>>,
}

/// A place among a channel's open orders, taken before the order is
/// placed; [`Admission::cancel`] gives it back if the order was not.
pub struct Admission {
    count: Arc<Mutex<Count>>,
}

impl Admission {
    /// The order was not placed after all.
    pub async fn cancel(self) {
        self.count.lock().await.open -= 1;
    }
}

impl OpenOrders {
    /// Takes a place for one more order of `channel`, unless it holds
    /// `max` open unpaid orders already (`None`).
    pub async fn admit(
        &self,
        pool: &PgPool,
        channel: &str,
        max: i64,
    ) -> Result<Option<Admission>, sqlx::Error> {
        let count = {
            let mut counts = self.counts.lock().unwrap_or_else(|p| p.into_inner());
            Arc::clone(counts.entry(channel.to_owned()).or_default())
        };
        let mut held = count.lock().await;
        if held.counted_at.is_none_or(|at| at.elapsed() >= RECOUNT) {
            // Orders admitted within the last moment may not be in the read
            // model yet: a soft bound, off by what the projection lags.
            held.open = sqlx::query_scalar(
                "SELECT count(*) FROM read_models.orders \
                 WHERE channel = $1 AND status IN ('placed', 'confirmed')",
            )
            .bind(channel)
            .fetch_one(pool)
            .await?;
            held.counted_at = Some(Instant::now());
        }
        if held.open >= max {
            return Ok(None);
        }
        held.open += 1;
        drop(held);
        Ok(Some(Admission { count }))
    }
}
