//! The console's settings.

use clap::Args;
use web::layers::HttpLimits;

use super::{duration_setting, usize_in, ReserverArgs};

/// Console settings.
#[derive(Debug, Clone, Args)]
pub struct ConsoleArgs {
    /// A console session unused this long ends.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_CONSOLE_IDLE_TIMEOUT", default_value_t = console::ConsoleSettings::default().idle_timeout.into())]
    pub idle_timeout: humantime::Duration,
    /// Send cookies without `Secure` (only behind plain HTTP that is not
    /// localhost; browsers send `Secure` cookies to localhost anyway).
    #[arg(long, env = "STOCKROOM_CONSOLE_INSECURE_COOKIES")]
    pub insecure_cookies: bool,
    /// A console session ends this long after signing in, however busy.
    #[arg(value_parser = duration_setting, long, env = "STOCKROOM_CONSOLE_SESSION_LIFETIME", default_value_t = console::ConsoleSettings::default().session_lifetime.into())]
    pub session_lifetime: humantime::Duration,
    /// Failed sign-ins one account may have from one client before each
    /// further attempt of that pair waits (1 s, doubling, at most 15 min).
    #[arg(value_parser = clap::value_parser!(u32).range(1..=1_000), long, env = "STOCKROOM_CONSOLE_SIGN_IN_FAILURES", default_value_t = console::ConsoleSettings::default().sign_in_free_failures)]
    pub sign_in_failures: u32,
    /// Reverse proxies (addresses or networks, comma-separated) whose
    /// `X-Forwarded-For` names the client; nobody else's is believed.
    #[arg(long, env = "STOCKROOM_CONSOLE_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<TrustedProxy>,
    /// Password hashes the console computes at once (each ~19 MiB); a
    /// sign-in that finds none free within 250 ms gets a 503.
    #[arg(value_parser = usize_in(1..=256), long, env = "STOCKROOM_CONSOLE_MAX_CONCURRENT_HASHES", default_value_t = console::ConsoleSettings::default().max_concurrent_hashes)]
    pub max_concurrent_hashes: usize,
}

/// A trusted proxy: one address, or a network such as `10.0.0.0/8`.
#[derive(Debug, Clone, Copy)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, String> {
        let raw = raw.trim();
        raw.parse::<ipnet::IpNet>()
            .or_else(|_| raw.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(Self)
            .map_err(|_| format!("{raw:?} is neither an address nor a network"))
    }
}

impl ConsoleArgs {
    /// The console settings.
    pub fn settings(
        &self,
        reserver: &ReserverArgs,
        max_wait: std::time::Duration,
        http: HttpLimits,
    ) -> console::ConsoleSettings {
        console::ConsoleSettings {
            http,
            idle_timeout: self.idle_timeout.into(),
            session_lifetime: self.session_lifetime.into(),
            secure_cookies: !self.insecure_cookies,
            sign_in_free_failures: self.sign_in_failures,
            trusted_proxies: self.trusted_proxies.iter().map(|p| p.0).collect(),
            max_concurrent_hashes: self.max_concurrent_hashes,
            hash_wait: console::ConsoleSettings::default().hash_wait,
            payment_timeout: reserver.payment_timeout.into(),
            allocation: reserver.allocation.0,
            max_wait,
        }
    }
}
