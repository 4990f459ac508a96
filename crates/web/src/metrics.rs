//! The process-wide Prometheus recorder and its `/metrics` rendering.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use metrics_util::MetricKindMask;

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets in seconds, fine enough to tell the latency targets of
/// `docs/benchmarks.md` apart (20, 50, 100, 150 ms) and wide enough for a
/// request that waited for a read model.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// A counter or histogram series not touched for this long leaves
/// `/metrics` (gauges stay: many are set once and mean something while
/// unchanged), so label values that stop coming do not stay for ever.
pub const SERIES_IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);

/// How often recorded histogram samples are folded into their buckets, so
/// they do not pile up in memory while nobody scrapes.
pub const UPKEEP_EVERY: Duration = Duration::from_secs(5);

/// The recorder's settings, with counter and histogram series expiring
/// after `idle`.
fn builder(idle: Duration) -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets(&LATENCY_BUCKETS)
        .expect("the bucket list is not empty")
        .idle_timeout(
            MetricKindMask::COUNTER | MetricKindMask::HISTOGRAM,
            Some(idle),
        )
}

/// Installs the recorder once per process and returns its handle.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = builder(SERIES_IDLE_TIMEOUT).build_recorder();
            let handle = recorder.handle();
            // A thread, not a task: the recorder outlives any one runtime
            // (tests start several).
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                })
                .expect("a thread for metrics upkeep");
            // A second recorder (tests run several apps in one process) is
            // refused; the first one keeps serving every app.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// Prometheus text of everything recorded so far.
pub fn render() -> String {
    prometheus().render()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Given a series that stops being touched, when its idle time has
    /// passed, then upkeep (which runs whether or not anybody scrapes)
    /// drops it, while a gauge stays.
    #[test]
    fn idle_counters_and_histograms_leave_and_gauges_stay() {
        let recorder = builder(Duration::from_millis(50)).build_recorder();
        let handle = recorder.handle();
        metrics::with_local_recorder(&recorder, || {
            metrics::counter!("probe_total", "method" => "M00001").increment(1);
            metrics::histogram!("probe_seconds", "method" => "M00001").record(0.01);
            metrics::gauge!("probe_active").set(1.0);
        });
        handle.run_upkeep();
        let before = handle.render();
        assert!(before.contains("probe_total") && before.contains("probe_seconds_bucket"));
        std::thread::sleep(Duration::from_millis(120));
        handle.run_upkeep();
        let after = handle.render();
        assert!(!after.contains("probe_total"), "{after}");
        assert!(!after.contains("probe_seconds"), "{after}");
        assert!(after.contains("probe_active"), "{after}");
    }
}
