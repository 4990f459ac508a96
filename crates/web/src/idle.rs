//! When a connection last had a request in flight: the keep-alive timeout
//! closes connections idle for longer.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

#[derive(Debug)]
struct State {
    in_flight: usize,
    idle_since: Instant,
}

/// One connection's clock, shared by its requests and its task.
#[derive(Debug, Clone)]
pub struct IdleClock(Arc<Mutex<State>>);

/// Held while a request is in flight; its drop restarts the idle clock.
pub struct Busy(IdleClock);

impl IdleClock {
    /// A clock for a connection opened now.
    pub fn new() -> Self {
        Self(Arc::new(Mutex::new(State {
            in_flight: 0,
            idle_since: Instant::now(),
        })))
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks a request in flight until the guard drops.
    pub fn busy(&self) -> Busy {
        self.state().in_flight += 1;
        Busy(self.clone())
    }

    /// When the connection will have been idle for `timeout`, if nothing
    /// starts meanwhile; with a request in flight, a time to look again.
    pub fn deadline(&self, timeout: Duration) -> Instant {
        let state = self.state();
        if state.in_flight > 0 {
            Instant::now() + timeout
        } else {
            state.idle_since + timeout
        }
    }

    /// Whether the connection has been idle for `timeout`.
    pub fn idle_for(&self, timeout: Duration) -> bool {
        let state = self.state();
        state.in_flight == 0 && state.idle_since.elapsed() >= timeout
    }
}

impl Default for IdleClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let mut state = self.0.state();
        state.in_flight -= 1;
        state.idle_since = Instant::now();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_connection_is_idle_only_with_no_request_in_flight() {
        let clock = IdleClock::new();
        let timeout = Duration::from_millis(50);
        let busy = clock.busy();
        tokio::time::sleep(timeout * 2).await;
        assert!(!clock.idle_for(timeout), "a long request is not idleness");
        assert!(clock.deadline(timeout) > Instant::now());
        drop(busy);
        assert!(!clock.idle_for(timeout));
        tokio::time::sleep_until(clock.deadline(timeout)).await;
        assert!(clock.idle_for(timeout));
    }
}
