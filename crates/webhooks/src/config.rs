//! The webhooks process's settings and their defaults (written once; the
//! command line takes its defaults from here).

use std::time::Duration;

/// How the webhooks process delivers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebhooksConfig {
    /// Most events in one POST.
    pub batch_size: i64,
    /// How long an endpoint has to answer a POST.
    pub timeout: Duration,
    /// The wait after the first failed attempt; doubles after each.
    pub backoff_initial: Duration,
    /// The longest wait between attempts.
    pub backoff_max: Duration,
    /// How often the list of endpoints is read again (new, disabled,
    /// deleted ones).
    pub reload: Duration,
}

impl Default for WebhooksConfig {
    fn default() -> Self {
        Self {
            batch_size: 100,
            timeout: Duration::from_secs(10),
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            reload: Duration::from_secs(5),
        }
    }
}
