//! Percentiles and medians.

use std::time::Duration;

/// Latencies of one load run, and its throughput.
#[derive(Debug, Clone, Copy, Default)]
pub struct Summary {
    /// Completed operations per second.
    pub per_second: f64,
    /// Median latency.
    pub p50: Duration,
    /// 99th-percentile latency.
    pub p99: Duration,
}

/// The `q`-quantile (0..=1) of `samples`, nearest rank.
pub fn quantile(samples: &mut [Duration], q: f64) -> Duration {
    if samples.is_empty() {
        return Duration::ZERO;
    }
    samples.sort_unstable();
    let rank = ((q * samples.len() as f64).ceil() as usize).clamp(1, samples.len());
    samples[rank - 1]
}

/// Summarises `count` operations over `elapsed` with their latencies.
pub fn summarise(mut latencies: Vec<Duration>, elapsed: Duration) -> Summary {
    Summary {
        per_second: latencies.len() as f64 / elapsed.as_secs_f64().max(1e-9),
        p50: quantile(&mut latencies, 0.50),
        p99: quantile(&mut latencies, 0.99),
    }
}

/// The median of several rounds, field by field.
pub fn median(rounds: &[Summary]) -> Summary {
    let pick = |f: fn(&Summary) -> f64| {
        let mut v: Vec<f64> = rounds.iter().map(f).collect();
        v.sort_by(f64::total_cmp);
        v.get(v.len() / 2).copied().unwrap_or_default()
    };
    Summary {
        per_second: pick(|s| s.per_second),
        p50: Duration::from_secs_f64(pick(|s| s.p50.as_secs_f64())),
        p99: Duration::from_secs_f64(pick(|s| s.p99.as_secs_f64())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_use_the_nearest_rank() {
        let mut v: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(quantile(&mut v, 0.5), Duration::from_millis(50));
        assert_eq!(quantile(&mut v, 0.99), Duration::from_millis(99));
    }

    #[test]
    fn the_median_round_is_taken_per_field() {
        let s = |r: f64, p: u64| Summary {
            per_second: r,
            p50: Duration::from_millis(p),
            p99: Duration::from_millis(p * 2),
        };
        let m = median(&[s(10.0, 5), s(30.0, 1), s(20.0, 3)]);
        assert_eq!(m.per_second, 20.0);
        assert_eq!(m.p50, Duration::from_millis(3));
    }
}
