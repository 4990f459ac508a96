//! Key lookups per client address, before any key is known: a stream of
//! made-up keys from one address (an IPv6 /64 counts as one) is refused
//! without reaching the database.

use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// How often addresses whose budget has refilled are forgotten, so made-up
/// addresses cannot grow the table.
const SWEEP_EVERY: Duration = Duration::from_secs(10);

/// Database key lookups each client address may cause.
#[derive(Clone)]
pub struct LookupsPerClient {
    limiter: Arc<DefaultKeyedRateLimiter<IpAddr>>,
    swept: Arc<Mutex<Instant>>,
}

impl LookupsPerClient {
    /// `per_second` lookups per address, as a burst of as many.
    pub fn new(per_second: u32) -> Self {
        let rate = NonZeroU32::new(per_second).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Arc::new(RateLimiter::keyed(Quota::per_second(rate))),
            swept: Arc::new(Mutex::new(Instant::now())),
        }
    }

    /// Whether `client` may cause one more lookup now (counting it).
    pub fn admit(&self, client: IpAddr) -> bool {
        self.sweep();
        self.limiter.check_key(&group(client)).is_ok()
    }

    fn sweep(&self) {
        let mut swept = self.swept.lock().unwrap_or_else(|p| p.into_inner());
        if swept.elapsed() >= SWEEP_EVERY {
            *swept = Instant::now();
            self.limiter.retain_recent();
            self.limiter.shrink_to_fit();
        }
    }
}

/// The key an address is counted under: IPv4 as is (IPv4-mapped IPv6
/// included), IPv6 by its /64, which one subscriber usually holds whole.
pub fn group(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let network = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(network))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn ipv6_addresses_count_by_their_64_and_mapped_ipv4_as_ipv4() {
        assert_eq!(group(ip("2001:db8::1")), group(ip("2001:db8::ffff:2")));
        assert_ne!(group(ip("2001:db8::1")), group(ip("2001:db8:0:1::1")));
        assert_eq!(group(ip("::ffff:10.0.0.1")), ip("10.0.0.1"));
        assert_ne!(group(ip("10.0.0.1")), group(ip("10.0.0.2")));
    }

    #[test]
    fn an_address_over_its_budget_is_refused_and_others_are_not() {
        let limit = LookupsPerClient::new(3);
        let admitted = (0..10).filter(|_| limit.admit(ip("2001:db8::1"))).count();
        assert_eq!(admitted, 3);
        assert!(!limit.admit(ip("2001:db8::2")), "the same /64");
        assert!(limit.admit(ip("2001:db8:0:1::1")), "another /64");
        assert!(limit.admit(ip("10.0.0.1")));
    }
}
