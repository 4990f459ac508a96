//! Both APIs against their own `/openapi.json` as a client generator reads
//! it: schemathesis (installed by `scripts/test`) sends what the documents
//! allow and what they forbid, with every check on, for a bounded time, and
//! any finding fails the test. A route whose document drifts from its
//! handler fails here.
//!
//! Valid data may still be refused for what only the server knows (an
//! unknown SKU, a version that moved, a cursor no page returned); each such
//! refusal is documented on its operation, and `tests/fuzzing/hooks.py`
//! lets through exactly those. Every bound a schema can say is in the
//! document.

use std::path::PathBuf;
use std::time::Duration;

use tokio::process::Command;

use crate::support::shop::place;
use crate::support::System;

/// Seconds each API is fuzzed (`STOCKROOM_FUZZ_SECONDS` overrides).
const DEFAULT_SECONDS: u64 = 60;

/// The run's seed, so a finding can be reproduced (`STOCKROOM_FUZZ_SEED`).
const DEFAULT_SEED: u64 = 31;

fn setting(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .map(|v| v.parse().unwrap_or_else(|_| panic!("{name} is a number")))
        .unwrap_or(default)
}

/// A file of `tests/fuzzing/`.
fn fuzzing_file(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../tests/fuzzing")
        .join(name)
}

/// Runs schemathesis against the API at `base`; returns its report when it
/// found anything.
async fn fuzz(api: &str, base: &str, token: &str, report_dir: &std::path::Path) -> Option<String> {
    let program = std::env::var("STOCKROOM_SCHEMATHESIS")
        .expect("STOCKROOM_SCHEMATHESIS names the fuzzer: run the tests with scripts/test");
    let seconds = setting("STOCKROOM_FUZZ_SECONDS", DEFAULT_SECONDS);
    let seed = setting("STOCKROOM_FUZZ_SEED", DEFAULT_SEED);
    let output = Command::new(&program)
        .arg("--config-file")
        .arg(fuzzing_file("schemathesis.toml"))
        .args(["run", &format!("{base}/openapi.json")])
        .args(["--checks", "all"])
        .args(["--max-time", &seconds.to_string()])
        .args(["--seed", &seed.to_string()])
        // One worker: hypothesis's source inspection is not thread-safe
        // (schemathesis 4.32 with two workers failed with internal errors).
        .args(["--workers", "1"])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(report_dir.join(api))
        .env("NO_COLOR", "1")
        .env("SCHEMATHESIS_HOOKS", fuzzing_file("hooks.py"))
        .current_dir(report_dir)
        .kill_on_drop(true)
        .output()
        .await
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("schemathesis against the {api} API (seed {seed}, {seconds} s):\n{text}");
    (!output.status.success()).then_some(text)
}

#[tokio::test]
async fn schemathesis_finds_nothing_in_either_api_within_its_budget() {
    let sys = System::start().await;
    // Something to read and to act on, besides what the fuzzer makes itself.
    sys.stock_product("FUZZ-TEA", 450, 50).await;
    place(&sys, uuid::Uuid::new_v4(), &[("FUZZ-TEA", 1)]).await;

    let reports = std::env::temp_dir().join(crate::support::unique("schemathesis"));
    std::fs::create_dir_all(&reports).unwrap();
    let budget = Duration::from_secs(setting("STOCKROOM_FUZZ_SECONDS", DEFAULT_SECONDS) * 3 + 120);
    let (command, query) = tokio::time::timeout(
        budget,
        futures::future::join(
            fuzz("command", sys.command_url(), &sys.admin_token, &reports),
            fuzz("query", sys.query_url(), &sys.admin_token, &reports),
        ),
    )
    .await
    .expect("the fuzzers stop within their time budget");
    let findings: Vec<String> = [("command", command), ("query", query)]
        .into_iter()
        .filter_map(|(api, found)| found.map(|text| format!("the {api} API:\n{text}")))
        .collect();
    assert!(
        findings.is_empty(),
        "schemathesis found disagreements between the documents and the APIs \
         (reports in {}):\n{}",
        reports.display(),
        findings.join("\n")
    );
}
