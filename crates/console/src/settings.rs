//! The console's settings and their defaults (the command line reads these).

use std::time::Duration;

/// Where the console listens unless told otherwise.
pub const DEFAULT_ADDR: &str = "127.0.0.1:8082";

/// How the console behaves.
#[derive(Debug, Clone)]
pub struct ConsoleSettings {
    /// A session unused this long ends.
    pub idle_timeout: Duration,
    /// Mark cookies `Secure` (sent over HTTPS only; browsers also send them
    /// to `localhost` over HTTP).
    pub secure_cookies: bool,
    /// Sign-in attempts allowed per minute, per e-mail address and per
    /// client address.
    pub sign_in_per_minute: u32,
    /// Payment deadline given to reservations retried from the parked list
    /// (the reservation process's own setting).
    pub payment_timeout: Duration,
    /// Longest a page waits for the read models to show a change just made.
    pub max_wait: Duration,
    /// Time limits of each request and the listener's connection limits.
    pub http: web::layers::HttpLimits,
}

impl Default for ConsoleSettings {
    fn default() -> Self {
        Self {
            idle_timeout: Duration::from_secs(30 * 60),
            secure_cookies: true,
            sign_in_per_minute: 5,
            payment_timeout: reserver::ReserverConfig::default().payment_timeout,
            max_wait: Duration::from_secs(5),
            http: web::layers::HttpLimits::default(),
        }
    }
}
