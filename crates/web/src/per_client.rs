//! Open connections per client address (an IPv6 /64 as one), so one client
//! holding connections open (half-sent heads, idle keep-alives) cannot take
//! every connection a listener allows and shut everybody else out.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};

use crate::client_limit::group;

/// At most so many of something (connections, streams) held at once per
/// key; a key holding none is forgotten, so the table holds only keys in use.
pub struct KeyedSlots<K> {
    max: usize,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K> Clone for KeyedSlots<K> {
    fn clone(&self) -> Self {
        Self {
            max: self.max,
            held: Arc::clone(&self.held),
        }
    }
}

/// One slot held by a key; given back when dropped.
pub struct Slot<K: Hash + Eq> {
    key: K,
    held: Arc<Mutex<HashMap<K, usize>>>,
}

impl<K: Hash + Eq + Clone> KeyedSlots<K> {
    /// At most `max` slots per key.
    pub fn new(max: usize) -> Self {
        Self {
            max: max.max(1),
            held: Arc::default(),
        }
    }

    /// A slot for `key`, unless it holds `max` already.
    pub fn take(&self, key: K) -> Option<Slot<K>> {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        let count = held.entry(key.clone()).or_default();
        if *count >= self.max {
            return None;
        }
        *count += 1;
        Some(Slot {
            key,
            held: Arc::clone(&self.held),
        })
    }
}

impl<K: Hash + Eq> Drop for Slot<K> {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(count) = held.get_mut(&self.key) {
            *count -= 1;
            if *count == 0 {
                held.remove(&self.key);
            }
        }
    }
}

/// The connections each client address holds open.
#[derive(Clone)]
pub struct ConnectionsPerClient {
    slots: KeyedSlots<IpAddr>,
}

/// One admitted connection; its address's count goes down when dropped.
pub type ClientSlot = Slot<IpAddr>;

impl ConnectionsPerClient {
    /// At most `max` open connections per address.
    pub fn new(max: usize) -> Self {
        Self {
            slots: KeyedSlots::new(max),
        }
    }

    /// A slot for one more connection from `client`, unless it holds `max`.
    pub fn admit(&self, client: IpAddr) -> Option<ClientSlot> {
        self.slots.take(group(client))
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
