//! Capped exponential backoff between attempts at one batch.

use std::time::Duration;

/// The wait before attempt `failures + 1`: `initial` doubled per failure
/// beyond the first, never above `max`.
pub fn wait_after(failures: u32, initial: Duration, max: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(31);
    initial.saturating_mul(1 << doublings).min(max)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_double_from_the_first_failure_up_to_the_cap() {
        let (initial, max) = (Duration::from_secs(1), Duration::from_secs(60));
        let waits: Vec<u64> = (1..=9)
            .map(|n| wait_after(n, initial, max).as_secs())
            .collect();
        assert_eq!(waits, vec![1, 2, 4, 8, 16, 32, 60, 60, 60]);
        assert_eq!(wait_after(u32::MAX, initial, max), max, "never overflows");
    }
}
