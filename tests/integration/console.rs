//! The console in a real headless Chromium (tests/browser/console.mjs),
//! against the whole system, then what it did as the event store saw it.

use std::path::PathBuf;
use std::process::Stdio;

use crate::support::process::run_tool;
use crate::support::{unique, Proc, System};

fn browser_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/browser")
}

/// Where the screenshots go (kept as artifacts).
fn screenshots() -> PathBuf {
    std::env::var("STOCKROOM_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("screenshots"))
}

#[tokio::test(flavor = "multi_thread")]
async fn a_person_runs_the_shop_from_the_console_in_a_browser() {
    assert!(
        browser_dir().join("node_modules/playwright-core").exists(),
        "run `npm ci --prefix tests/browser` (scripts/test does)"
    );
    let sys = System::start().await;
    let console = Proc::spawn("console", &["--addr", "127.0.0.1:0"], &sys.env).await;
    let email = format!("{}@example.com", unique("staff"));
    let (status, password) = run_tool(
        &["users", "create", "--email", &email, "--role", "admin"],
        &sys.env,
    )
    .await;
    assert!(status.success());
    let password = password.trim().to_owned();
    assert_eq!(password.len(), 20, "a one-time password is printed");
    // Browsers treat localhost as a secure origin, so the console's default
    // `Secure` cookies work over plain HTTP here.
    let url = console
        .url
        .clone()
        .unwrap()
        .replace("127.0.0.1", "localhost");
    let sku = unique("TEA");
    let node = tokio::process::Command::new("node")
        .arg("console.mjs")
        .current_dir(browser_dir())
        .env("CONSOLE_URL", &url)
        .env("COMMAND_URL", sys.command_url())
        .env("API_KEY", &sys.admin_token)
        .env("CONSOLE_EMAIL", &email)
        .env("CONSOLE_PASSWORD", &password)
        .env("SKU", &sku)
        .env("SCREENSHOTS", screenshots())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .await
        .expect("run node");
    let out = String::from_utf8_lossy(&node.stdout);
    let err = String::from_utf8_lossy(&node.stderr);
    assert!(
        node.status.success(),
        "the browser journey failed:\n{out}\n{err}\nconsole log: {}; screenshots: {}",
        console.log.display(),
        screenshots().display()
    );

    // Every change the person made is an event with them as its actor.
    let user_id: uuid::Uuid = sqlx::query_scalar("SELECT id FROM console_users WHERE email = $1")
        .bind(&email)
        .fetch_one(&sys.db.pool)
        .await
        .unwrap();
    let actor = format!("user:{user_id}");
    let mut by_person: Vec<String> =
        sqlx::query_scalar("SELECT event_type FROM events WHERE actor = $1 ORDER BY position")
            .bind(&actor)
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
    by_person.dedup();
    assert_eq!(
        by_person,
        [
            "ProductRegistered",
            "StockReceived",
            "OrderCancelled",
            "LocationRegistered",
            "StockReceived",
            "OrderShipped",
            "ReturnReceived",
            "StockReceived",
            "OrderRefunded",
            "HoldReleased",
            "StockHoldReleased"
        ],
        "the forged receipt and the refused forms appended nothing"
    );
    let shipped_from: Vec<String> = sqlx::query_scalar(
        "SELECT data->>'location' FROM events \
         WHERE actor = $1 AND event_type = 'OrderShipped' ORDER BY position",
    )
    .bind(&actor)
    .fetch_all(&sys.db.pool)
    .await
    .unwrap();
    assert_eq!(
        shipped_from,
        ["shop-1", "default"],
        "part from the shop, the rest from where it was allocated"
    );
    for page in [
        "dashboard",
        "order",
        "locations",
        "order-partly-shipped",
        "order-refunded",
        "holds",
        "products",
        "stock",
        "projections",
        "login-refused",
    ] {
        assert!(
            screenshots().join(format!("{page}.png")).exists(),
            "{page}.png saved"
        );
    }
}
