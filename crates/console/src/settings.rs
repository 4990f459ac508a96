//! The console's settings and their defaults (the command line reads these).

use std::time::Duration;

use ipnet::IpNet;
use store::console_users::SessionLifetime;

/// Where the console listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8082";

/// How the console behaves.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// A session ends this long after signing in, however busy.
    pub session_lifetime: Duration,
    /// Mark cookies `Secure` (sent over HTTPS only; browsers also send them
    /// to `localhost` over HTTP).
    pub secure_cookies: bool,
    /// Failed sign-ins one account may have from one client before each
    /// further attempt of that pair waits (1 s, doubling, at most 15 min).
    pub sign_in_free_failures: u32,
    /// Peers whose `X-Forwarded-For` names the client (a reverse proxy in
    /// front); from anyone else the header is ignored.
    pub trusted_proxies: Vec<IpNet>,
    /// Password hashes (Argon2id, ~19 MiB each) computed at once; more
    /// sign-ins wait [`ConsoleSettings::hash_wait`], then get a 503.
    pub max_concurrent_hashes: usize,
    /// How long a sign-in waits for a free hashing slot.
    pub hash_wait: Duration,
    /// Payment deadline given to reservations retried from the parked list
    /// (the reservation process's own setting).
    pub payment_timeout: Duration,
    /// How a retried placement is spread over locations, as the reservation
    /// process would.
    pub allocation: domain::allocation::Strategy,
    /// Longest a page waits for the read models to show a change just made.
    pub max_wait: Duration,
    /// Time limits of each request and the listener's connection limits.
    pub http: web::layers::HttpLimits,
}

impl ConsoleSettings {
    /// When sessions end without signing out.
    pub fn session_lifetime(&self) -> SessionLifetime {
        SessionLifetime {
            idle: self.idle_timeout,
            absolute: self.session_lifetime,
        }
    }
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            session_lifetime: Duration::from_secs(12 * 3600),
            secure_cookies: true,
            sign_in_free_failures: 5,
            trusted_proxies: Vec::new(),
            max_concurrent_hashes: 4,
            hash_wait: Duration::from_millis(250),
            payment_timeout: reserver::ReserverConfig::default().payment_timeout,
            allocation: reserver::ReserverConfig::default().allocation,
            max_wait: Duration::from_secs(5),
            http: web::layers::HttpLimits::default(),
        }
    }
}
