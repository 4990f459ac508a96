//! The cap on concurrent Argon2 work in the console. Each hash takes tens of
//! milliseconds of a core and ~19 MiB on purpose, so a flood of sign-ins
//! (right or wrong, known addresses or not) would otherwise take every core
//! and a lot of memory. Past the cap a request waits briefly for a slot and
//! is then refused with a 503, instead of queueing without bound.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::error::ConsoleError;
use crate::password;

/// Slots for hashing passwords.
#[derive(Debug, Clone)]
pub struct HashGate {
    slots: Arc<Semaphore>,
    wait: Duration,
}

impl HashGate {
    /// At most `slots` hashes at once; a caller waits up to `wait` for one.
    pub fn new(slots: usize, wait: Duration) -> Self {
        Self {
            slots: Arc::new(Semaphore::new(slots.max(1))),
            wait,
        }
    }

    async fn slot(&self) -> Result<OwnedSemaphorePermit, ConsoleError> {
        let acquire = self.slots.clone().acquire_owned();
        match tokio::time::timeout(self.wait, acquire).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!("stockroom_console_hashes_refused_total").increment(1);
                Err(ConsoleError::Busy)
            }
        }
    }

    /// [`password::verify`] in a slot.
    pub async fn verify(
        &self,
        password: String,
        phc: Option<String>,
    ) -> Result<bool, ConsoleError> {
        let _slot = self.slot().await?;
        Ok(password::verify(password, phc).await)
    }

    /// [`password::hash`] in a slot.
    pub async fn hash(&self, password: String) -> Result<String, ConsoleError> {
        let _slot = self.slot().await?;
        password::hash(password)
            .await
            .map_err(ConsoleError::Password)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn past_the_cap_a_check_is_refused_after_the_wait() {
        let gate = HashGate::new(1, Duration::from_millis(20));
        let held = gate.slot().await.unwrap();
        let started = std::time::Instant::now();
        assert!(matches!(
            gate.verify("whatever it is".into(), None).await,
            Err(ConsoleError::Busy)
        ));
        assert!(
            started.elapsed() < Duration::from_secs(1),
            "answered quickly"
        );
        drop(held);
        assert!(!gate.verify("whatever it is".into(), None).await.unwrap());
    }
}
