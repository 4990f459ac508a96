//! The process-wide Prometheus recorder and its `/metrics` rendering.

use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Histogram buckets in seconds, fine enough to tell the latency targets of
/// `docs/benchmarks.md` apart (20, 50, 100, 150 ms) and wide enough for a
/// request that waited for a read model.
pub const LATENCY_BUCKETS: [f64; 16] = [
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5,
    10.0,
];

/// Installs the recorder once per process and returns its handle.
pub fn prometheus() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets(&LATENCY_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
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
