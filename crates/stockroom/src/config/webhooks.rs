//! The webhooks process's settings (defaults in [`webhooks::WebhooksConfig`]).

use clap::Args;
use webhooks::WebhooksConfig;

use super::duration_setting;

/// Webhooks settings.
#[derive(Debug, Clone, Args)]
pub struct WebhooksArgs {
    /// Most events in one POST to an endpoint.
    #[arg(value_parser = clap::value_parser!(i64).range(1..=1_000), long, env = "STOCKROOM_WEBHOOKS_BATCH_SIZE", default_value_t = WebhooksConfig::default().batch_size)]
    pub webhooks_batch_size: i64,
    /// How long an endpoint has to answer a POST (else it is tried again).
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_WEBHOOKS_TIMEOUT", default_value_t = WebhooksConfig::default().timeout.into())]
    pub webhooks_timeout: humantime::Duration,
    /// The wait after an endpoint's first failed attempt; it doubles after
    /// each further one.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_WEBHOOKS_BACKOFF_INITIAL", default_value_t = WebhooksConfig::default().backoff_initial.into())]
    pub webhooks_backoff_initial: humantime::Duration,
    /// The longest wait between two attempts.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_WEBHOOKS_BACKOFF_MAX", default_value_t = WebhooksConfig::default().backoff_max.into())]
    pub webhooks_backoff_max: humantime::Duration,
    /// How often the list of endpoints is read again.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_WEBHOOKS_RELOAD", default_value_t = WebhooksConfig::default().reload.into())]
    pub webhooks_reload: humantime::Duration,
}

impl WebhooksArgs {
    /// The settings.
    pub fn config(&self) -> WebhooksConfig {
        WebhooksConfig {
            batch_size: self.webhooks_batch_size,
            timeout: self.webhooks_timeout.into(),
            backoff_initial: self.webhooks_backoff_initial.into(),
            backoff_max: self.webhooks_backoff_max.into(),
            reload: self.webhooks_reload.into(),
        }
    }
}
