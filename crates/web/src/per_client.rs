//! Open connections per client address (an IPv6 /64 as one), so one client
//! holding connections open (half-sent heads, idle keep-alives) cannot take
//! every connection a listener allows and shut everybody else out.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::client_limit::group;

/// The connections each client address holds open.
#[derive(Clone)]
pub struct ConnectionsPerClient {
    max: usize,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

/// One admitted connection; its address's count goes down when dropped.
pub struct ClientSlot {
    client: IpAddr,
    open: Arc<Mutex<HashMap<IpAddr, usize>>>,
}

impl ConnectionsPerClient {
    /// At most `max` open connections per address.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            open: Arc::default(),
        }
    }

    /// A slot for one more connection from `client`, unless it holds `max`.
    pub fn admit(&self, client: IpAddr) -> Option<ClientSlot> {
        let client = group(client);
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let held = open.entry(client).or_default();
        if *held >= self.max {
            return None;
        }
        *held += 1;
        Some(ClientSlot {
            client,
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for ClientSlot {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(held) = open.get_mut(&self.client) {
            *held -= 1;
            // Addresses with nothing open are forgotten: the table holds at
            // most the open connections' addresses.
            if *held == 0 {
                open.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_gets_its_share_and_gets_it_back_when_a_connection_ends() {
        let limit = ConnectionsPerClient::new(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = limit.admit(a).unwrap();
        let _second = limit.admit(a).unwrap();
        assert!(limit.admit(a).is_none(), "a holds its two");
        assert!(limit.admit(b).is_some(), "b is not held back by a");
        drop(first);
        assert!(limit.admit(a).is_some(), "a's slot came back");
    }

    #[test]
    fn an_ipv6_64_is_one_client() {
        let limit = ConnectionsPerClient::new(1);
        let _held = limit.admit("2001:db8::1".parse().unwrap()).unwrap();
        assert!(limit.admit("2001:db8::ffff".parse().unwrap()).is_none());
        assert!(limit.admit("2001:db8:0:1::1".parse().unwrap()).is_some());
    }
}
