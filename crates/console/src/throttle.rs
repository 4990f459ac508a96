//! Sign-in back-off. Only failures count, and they count against the pair
//! of an account and a client address (IPv6 by /64): someone guessing at
//! `admin@localhost` from their own address slows only their own guesses,
//! never the real admin signing in from elsewhere, and a right password is
//! never refused for earlier wrong ones from other places. After
//! `free_failures` failures a pair waits 1 s before its next attempt, then
//! twice as long after each further failure, up to 15 minutes.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The first wait, doubled with each further failure.
const FIRST_WAIT: Duration = Duration::from_secs(1);

/// The longest wait.
const LONGEST_WAIT: Duration = Duration::from_secs(15 * 60);

/// A pair with no failure for this long starts over.
const FORGET_AFTER: Duration = Duration::from_secs(3600);

/// Pairs remembered at most; made-up addresses cannot grow the map past it.
const MAX_PAIRS: usize = 100_000;

/// Longest e-mail address kept as a key (longer ones cannot exist).
const MAX_EMAIL: usize = 254;

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    until: Instant,
}

/// Failed sign-ins per (account, client) pair.
#[derive(Debug)]
pub struct SignInThrottle {
    free_failures: u32,
    pairs: Mutex<HashMap<(String, IpAddr), Failures>>,
}

fn key(email: &str, client: IpAddr) -> (String, IpAddr) {
    (
        email.chars().take(MAX_EMAIL).collect(),
        web::client_limit::group(client),
    )
}

impl SignInThrottle {
    /// A throttle that lets each pair fail `free_failures` times freely.
    pub fn new(free_failures: u32) -> Self {
        Self {
            free_failures: free_failures.max(1),
            pairs: Mutex::new(HashMap::new()),
        }
    }

    fn pairs(&self) -> std::sync::MutexGuard<'_, HashMap<(String, IpAddr), Failures>> {
        self.pairs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How long `email` from `client` must still wait before its next
    /// attempt, if at all.
    pub fn wait(&self, email: &str, client: IpAddr) -> Option<Duration> {
        let now = Instant::now();
        let pairs = self.pairs();
        let failures = pairs.get(&key(email, client))?;
        (failures.until > now).then(|| failures.until - now)
    }

    /// Counts a failed attempt of `email` from `client`.
    pub fn failed(&self, email: &str, client: IpAddr) {
        let now = Instant::now();
        let mut pairs = self.pairs();
        if pairs.len() >= MAX_PAIRS {
            sweep(&mut pairs, now);
        }
        let key = key(email, client);
        if pairs.len() >= MAX_PAIRS && !pairs.contains_key(&key) {
            // Every slot holds a pair that failed within the hour (filling
            // them takes 100,000 hashed guesses); evicting one per failure
            // would cost a scan each, and the global cap on hashing still
            // bounds what an uncounted pair can try.
            tracing::warn!("sign-in back-off table full; a failure was not counted");
            return;
        }
        let entry = pairs.entry(key).or_insert(Failures {
            count: 0,
            last: now,
            until: now,
        });
        if now.duration_since(entry.last) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.count = entry.count.saturating_add(1);
        entry.last = now;
        entry.until = now + wait_after(entry.count, self.free_failures);
    }

    /// Forgets the failures of `email` from `client` (it signed in).
    pub fn succeeded(&self, email: &str, client: IpAddr) {
        self.pairs().remove(&key(email, client));
    }

    /// Forgets pairs quiet long enough to start over.
    pub fn sweep(&self) {
        let mut pairs = self.pairs();
        sweep(&mut pairs, Instant::now());
        pairs.shrink_to_fit();
    }
}

fn sweep(pairs: &mut HashMap<(String, IpAddr), Failures>, now: Instant) {
    pairs.retain(|_, f| f.until > now || now.duration_since(f.last) < FORGET_AFTER);
}

/// The wait after the `count`th failure.
fn wait_after(count: u32, free: u32) -> Duration {
    if count < free {
        return Duration::ZERO;
    }
    let doublings = (count - free).min(20);
    FIRST_WAIT.saturating_mul(1 << doublings).min(LONGEST_WAIT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double_up_to_a_bound() {
        assert_eq!(wait_after(1, 3), Duration::ZERO);
        assert_eq!(wait_after(2, 3), Duration::ZERO);
        assert_eq!(wait_after(3, 3), Duration::from_secs(1));
        assert_eq!(wait_after(4, 3), Duration::from_secs(2));
        assert_eq!(wait_after(8, 3), Duration::from_secs(32));
        assert_eq!(wait_after(1000, 3), LONGEST_WAIT);
    }

    #[test]
    fn only_the_failing_pair_waits_and_signing_in_clears_it() {
        let throttle = SignInThrottle::new(2);
        let (admin, attacker, office) = ("admin@localhost", ip("203.0.113.9"), ip("198.51.100.2"));
        throttle.failed(admin, attacker);
        assert_eq!(throttle.wait(admin, attacker), None);
        throttle.failed(admin, attacker);
        assert!(throttle.wait(admin, attacker).is_some());
        assert_eq!(throttle.wait(admin, office), None, "another client");
        assert_eq!(
            throttle.wait("other@localhost", attacker),
            None,
            "another account"
        );
        throttle.succeeded(admin, attacker);
        assert_eq!(throttle.wait(admin, attacker), None);
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let throttle = SignInThrottle::new(1);
        throttle.failed("a@b", ip("2001:db8::1"));
        assert!(throttle.wait("a@b", ip("2001:db8::ffff")).is_some());
        assert!(throttle.wait("a@b", ip("2001:db8:0:1::1")).is_none());
    }
}
