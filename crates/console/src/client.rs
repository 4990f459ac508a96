//! Which client a request came from, for sign-in limiting: the peer, unless
//! the peer is a trusted reverse proxy, in which case the nearest address in
//! `X-Forwarded-For` that is not itself a trusted proxy. Anyone else's
//! `X-Forwarded-For` is ignored: a client could write anything there.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The header proxies add the address they received from to.
const FORWARDED_FOR: &str = "x-forwarded-for";

/// The client address of a request from `peer` with `headers`.
pub fn address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    // Each proxy appends the address it received from, so reading from the
    // right, the first address not of a trusted proxy is the client; what
    // lies to its left was written by that client and is not believed.
    let hops: Vec<&str> = headers
        .get_all(FORWARDED_FOR)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        let Some(ip) = parse_hop(hop) else {
            // Garbage from a hop: the last address we could trust stands.
            return client;
        };
        client = ip;
        if !is_trusted(&ip) {
            return ip;
        }
    }
    client
}

/// An address as proxies write it: bare, with a port, or bracketed IPv6.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .ok()
        .or_else(|| hop.parse::<SocketAddr>().ok().map(|s| s.ip()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn forwarded(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(FORWARDED_FOR, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn the_header_is_ignored_unless_the_peer_is_a_trusted_proxy() {
        let headers = forwarded("203.0.113.7");
        assert_eq!(
            address(ip("198.51.100.1"), &headers, &[]),
            ip("198.51.100.1")
        );
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        assert_eq!(
            address(ip("198.51.100.1"), &headers, &trusted),
            ip("198.51.100.1"),
            "a peer outside the trusted networks"
        );
        assert_eq!(
            address(ip("10.1.2.3"), &headers, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(
            address(ip("10.1.2.3"), &HeaderMap::new(), &trusted),
            ip("10.1.2.3"),
            "a proxy that names nobody"
        );
    }

    #[test]
    fn what_the_client_wrote_before_the_proxies_is_not_believed() {
        let trusted = ["10.0.0.0/8".parse().unwrap()];
        let headers = forwarded("1.2.3.4, [2001:db8::5]:4711, 10.0.0.9");
        assert_eq!(
            address(ip("10.0.0.1"), &headers, &trusted),
            ip("2001:db8::5")
        );
        let garbage = forwarded("1.2.3.4, not-an-address, 10.0.0.9");
        assert_eq!(
            address(ip("10.0.0.1"), &garbage, &trusted),
            ip("10.0.0.9"),
            "the nearest hop we could read"
        );
    }
}
