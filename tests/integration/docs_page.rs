//! `/docs` of both APIs in a real headless Chromium (tests/browser/docs.mjs):
//! the interactive page draws every documented operation from files inside
//! the binary, fetches nothing elsewhere, and "Try it out" works with a key.

use std::path::PathBuf;

use crate::support::System;

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

#[tokio::test(flavor = "multi_thread")]
async fn each_api_serves_its_document_as_an_interactive_page_from_its_own_files() {
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/browser` (scripts/test does)"
    );
    let sys = System::start_with(&[], &[]).await;
    let shots = std::env::var("STOCKROOM_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"));
    let node = tokio::process::Command::new("node")
        .arg("docs.mjs")
        .current_dir(browser_dir())
        .env("COMMAND_URL", sys.command_url())
        .env("QUERY_URL", sys.query_url())
        .env("API_KEY", &sys.admin_token)
        .env("SCREENSHOTS", &shots)
        .output()
        .await
        .expect("run node");
    assert!(
        node.status.success(),
        "the docs pages failed in the browser:\n{}\n{}\nscreenshots: {}",
        String::from_utf8_lossy(&node.stdout),
        String::from_utf8_lossy(&node.stderr),
        shots.display()
    );
}
