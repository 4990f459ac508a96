//! Batch sizes that keep every write transaction of a long job short.
//!
//! A transaction that has written holds a transaction id until it ends, and
//! no follower of the log reads past an open one (the gap-safe horizon): a
//! replay batch that runs for 150 ms delays every order placed meanwhile by
//! up to 150 ms. So long jobs (rebuilds, verifications) size their batches
//! by how long the last ones took, for a target far below an order's normal
//! decision latency.

use std::time::Duration;

/// How long one batch's transaction should take.
pub const TARGET: Duration = Duration::from_millis(20);

/// The batch size to use next, learnt from the batches so far.
#[derive(Debug, Clone, Copy)]
pub struct Pace {
    size: i64,
    max: i64,
}

/// The smallest batch: below it a batch's fixed cost dominates.
const MIN: i64 = 50;

impl Pace {
    /// Starts small, and never grows past `max` events.
    pub fn new(max: i64) -> Self {
        Self {
            size: MIN.max(max / 10).min(max),
            max: max.max(MIN),
        }
    }

    /// Events to take in the next batch.
    pub fn size(&self) -> i64 {
        self.size
    }

    /// Learns from a batch of `events` that took `took`: the next size is
    /// halfway to the one that would have taken [`TARGET`].
    pub fn record(&mut self, events: usize, took: Duration) {
        if events == 0 {
            return;
        }
        let per_event = took.as_secs_f64() / events as f64;
        let ideal = if per_event > 0.0 {
            (TARGET.as_secs_f64() / per_event) as i64
        } else {
            self.max
        };
        self.size = ((self.size + ideal) / 2).clamp(MIN, self.max);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_slow_batch_shrinks_the_next_and_a_fast_one_grows_it() {
        let mut pace = Pace::new(5_000);
        let start = pace.size();
        pace.record(start as usize, TARGET * 4);
        assert!(pace.size() < start);
        let shrunk = pace.size();
        pace.record(shrunk as usize, TARGET / 4);
        assert!(pace.size() > shrunk);
    }

    proptest! {
        /// Whatever batches took, the size stays within its bounds, and it
        /// settles where a batch takes about the target.
        #[test]
        fn the_size_stays_in_bounds_and_converges(
            max in 1i64..20_000,
            micros_per_event in 1u64..10_000,
            rounds in 1usize..40,
        ) {
            let mut pace = Pace::new(max);
            let per_event = Duration::from_micros(micros_per_event);
            for _ in 0..rounds {
                let size = pace.size();
                prop_assert!((MIN.min(max)..=max.max(MIN)).contains(&size));
                pace.record(size as usize, per_event * size as u32);
            }
            let settled = pace.size();
            for _ in 0..40 {
                pace.record(pace.size() as usize, per_event * pace.size() as u32);
            }
            let ideal = (TARGET.as_micros() as u64 / micros_per_event) as i64;
            let expected = ideal.clamp(MIN, max.max(MIN));
            prop_assert!((pace.size() - expected).abs() <= 1 + expected / 100, "{settled} -> {} vs {expected}", pace.size());
        }
    }
}
