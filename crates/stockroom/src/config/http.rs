//! Settings of the HTTP listeners: the APIs, the console and the workers'
//! endpoints.

use clap::Args;
use command_api::channel_limits::ChannelLimits;
use command_api::hold_settings::HoldSettings;
use web::layers::HttpLimits;

use super::{duration_setting, usize_in, AllocationSetting};

/// Limits of every HTTP listener: the APIs, the console and the workers'
/// endpoints (defaults: [`HttpLimits::default`]).
#[derive(Debug, Clone, Args)]
pub struct ListenerArgs {
    /// Longest a request may run before it is answered 503.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_REQUEST_TIMEOUT", default_value_t = HttpLimits::default().request_timeout.into())]
    pub request_timeout: humantime::Duration,
    /// Longest a client may take to send a request's head (counted from when
    /// the connection starts waiting for one).
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_HEADER_READ_TIMEOUT", default_value_t = HttpLimits::default().header_read_timeout.into())]
    pub header_read_timeout: humantime::Duration,
    /// A connection idle this long with no request in flight is closed.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_KEEP_ALIVE_TIMEOUT", default_value_t = HttpLimits::default().keep_alive_timeout.into())]
    pub keep_alive_timeout: humantime::Duration,
    /// Longest wait for the next piece of a request body.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_BODY_READ_TIMEOUT", default_value_t = HttpLimits::default().body_read_timeout.into())]
    pub body_read_timeout: humantime::Duration,
    /// Open connections per listener; more are accepted and closed at once.
    #[arg(value_parser = usize_in(1..=1_000_000), long, env = "STOCKROOM_MAX_CONNECTIONS", default_value_t = HttpLimits::default().max_connections)]
    pub max_connections: usize,
    /// Open connections per client address (an IPv6 /64 as one); behind a
    /// reverse proxy, set it to `--max-connections`.
    #[arg(value_parser = usize_in(1..=1_000_000), long, env = "STOCKROOM_MAX_CONNECTIONS_PER_CLIENT", default_value_t = HttpLimits::default().max_connections_per_client)]
    pub max_connections_per_client: usize,
}

impl ListenerArgs {
    /// The limits, with bodies of at most `max_body_bytes`.
    pub fn limits(&self, max_body_bytes: usize) -> HttpLimits {
        HttpLimits {
            request_timeout: self.request_timeout.into(),
            max_body_bytes,
            header_read_timeout: self.header_read_timeout.into(),
            keep_alive_timeout: self.keep_alive_timeout.into(),
            body_read_timeout: self.body_read_timeout.into(),
            max_connections: self.max_connections,
            max_connections_per_client: self.max_connections_per_client,
        }
    }

    /// The limits with the default body size (the console's and the
    /// workers', whose bodies are small forms or nothing).
    pub fn default_body(&self) -> HttpLimits {
        self.limits(HttpLimits::default().max_body_bytes)
    }
}

/// HTTP settings of both APIs.
#[derive(Debug, Clone, Args)]
pub struct ApiArgs {
    /// Listener limits.
    #[command(flatten)]
    pub listener: ListenerArgs,
    /// Largest accepted request body in bytes.
    #[arg(value_parser = usize_in(1..=64 * 1024 * 1024), long, env = "STOCKROOM_MAX_BODY_BYTES", default_value_t = HttpLimits::default().max_body_bytes)]
    pub max_body_bytes: usize,
    /// Longest a query waits for `X-Min-Position`.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_MAX_WAIT", default_value_t = query_api::DEFAULT_MAX_WAIT.into())]
    pub max_wait: humantime::Duration,
    /// Most units in all in one order placed with a storefront key.
    #[arg(value_parser = clap::value_parser!(i64).range(1..=1_000_000_000), long, env = "STOCKROOM_CHANNEL_MAX_UNITS_PER_ORDER", default_value_t = ChannelLimits::default().max_units_per_order)]
    pub channel_max_units_per_order: i64,
    /// Most open unpaid orders (placed or confirmed) of one sales channel.
    #[arg(value_parser = clap::value_parser!(i64).range(1..=1_000_000_000), long, env = "STOCKROOM_CHANNEL_MAX_OPEN_ORDERS", default_value_t = ChannelLimits::default().max_open_orders)]
    pub channel_max_open_orders: i64,
    /// How long a cart hold lasts when the request names no `ttl_seconds`.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_HOLD_TTL", default_value_t = HoldSettings::default().ttl.into())]
    pub hold_ttl: humantime::Duration,
    /// The longest a cart hold may last from placement, extensions included.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_HOLD_MAX_LIFETIME", default_value_t = HoldSettings::default().max_lifetime.into())]
    pub hold_max_lifetime: humantime::Duration,
    /// Where held units come from: the orders' `STOCKROOM_ALLOCATION`.
    #[arg(long = "hold-allocation", env = "STOCKROOM_ALLOCATION", default_value_t = AllocationSetting(HoldSettings::default().allocation))]
    pub hold_allocation: AllocationSetting,
}

impl ApiArgs {
    /// The HTTP limits.
    pub fn limits(&self) -> HttpLimits {
        self.listener.limits(self.max_body_bytes)
    }

    /// What one sales channel may hold unpaid.
    pub fn channel_limits(&self) -> ChannelLimits {
        ChannelLimits {
            max_units_per_order: self.channel_max_units_per_order,
            max_open_orders: self.channel_max_open_orders,
        }
    }

    /// How long cart holds last, and where their units come from.
    pub fn hold_settings(&self) -> HoldSettings {
        HoldSettings {
            ttl: self.hold_ttl.into(),
            max_lifetime: self.hold_max_lifetime.into(),
            allocation: self.hold_allocation.0,
        }
    }
}
