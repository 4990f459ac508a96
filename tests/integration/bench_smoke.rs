//! `stockroom bench --smoke`: the benchmark command keeps working.

use crate::support::db::admin_url;
use crate::support::process::run_tool;
use crate::support::system::brokers;

#[tokio::test(flavor = "multi_thread")]
async fn the_benchmark_command_runs_every_stage_and_writes_its_report() {
    let out = std::env::temp_dir().join(format!("bench-{}.md", uuid::Uuid::new_v4().simple()));
    let env = vec![
        ("DATABASE_URL".to_owned(), admin_url()),
        ("KAFKA_BROKERS".to_owned(), brokers()),
    ];
    let (status, stdout) =
        run_tool(&["bench", "--smoke", "--out", out.to_str().unwrap()], &env).await;
    assert!(status.success(), "bench failed:\n{stdout}");
    let report = std::fs::read_to_string(&out).unwrap();
    for stage in [
        "place order, 1 client",
        "place order, 4 client",
        "relay,",
        "projector (orders)",
        "query GET",
        "end to end",
    ] {
        assert!(report.contains(stage), "{stage} missing from\n{report}");
    }
    assert!(report.contains("| stage | ours | raw baseline | ours / baseline | target |"));
}
