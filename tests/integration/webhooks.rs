//! Webhooks on the feed: real receivers on port 0, one that refuses (500s,
//! then answers too late) and recovers, one that always accepts; each gets
//! every event of its types once, in order, signed; the failing one only
//! falls behind, visibly, and never holds the other back; a second
//! process stands by rather than sending every batch again.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use sqlx::Connection;

use crate::support::process::run_tool;
use crate::support::{eventually, System};

/// What a receiver saw.
#[derive(Default)]
struct Receiver {
    /// The secret to check signatures with, once known.
    secret: Mutex<String>,
    /// Refuse every request while set: a 500, then one answered too late,
    /// in turn.
    failing: AtomicBool,
    requests: AtomicUsize,
    /// Requests whose signature did not verify.
    forged: AtomicUsize,
    /// `(global_position, event_id, event_type)` of every event accepted.
    accepted: Mutex<Vec<(i64, String, String)>>,
}

async fn receive(
    State(receiver): State<Arc<Receiver>>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let n = receiver.requests.fetch_add(1, Ordering::SeqCst);
    let signature = headers
        .get("stockroom-signature")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let secret = receiver.secret.lock().unwrap().clone();
    let now = chrono::Utc::now().timestamp();
    if !webhooks::signature::verify(&secret, signature, &body, now, 300) {
        receiver.forged.fetch_add(1, Ordering::SeqCst);
        return StatusCode::UNAUTHORIZED;
    }
    if receiver.failing.load(Ordering::SeqCst) {
        if n % 2 == 1 {
            // Past the sender's timeout: it gives up and sends it again.
            tokio::time::sleep(Duration::from_secs(3)).await;
        }
        return StatusCode::INTERNAL_SERVER_ERROR;
    }
    let batch: Value = serde_json::from_slice(&body).unwrap();
    let mut accepted = receiver.accepted.lock().unwrap();
    for e in batch["events"].as_array().unwrap() {
        accepted.push((
            e["global_position"].as_i64().unwrap(),
            e["event_id"].as_str().unwrap().to_owned(),
            e["event_type"].as_str().unwrap().to_owned(),
        ));
    }
    StatusCode::NO_CONTENT
}

/// A receiver listening on port 0; its URL.
async fn start_receiver(receiver: Arc<Receiver>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/hook", axum::routing::post(receive))
        .with_state(receiver);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

/// Makes an endpoint with the CLI; its id and secret.
async fn create(sys: &System, url: &str, types: &str) -> (String, String) {
    let mut args = vec!["webhooks", "create", "--url", url, "--from-start", "--json"];
    if !types.is_empty() {
        args.extend(["--types", types]);
    }
    let (status, out) = run_tool(&args, &sys.env).await;
    assert!(status.success(), "{out}");
    let made: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(made["position"], 0);
    (
        made["id"].as_str().unwrap().to_owned(),
        made["secret"].as_str().unwrap().to_owned(),
    )
}

/// The log's `(position, event_id, event_type)` of `types` (all when empty).
async fn logged(sys: &System, types: &[&str]) -> Vec<(i64, String, String)> {
    let all: Vec<(i64, String, String)> =
        sqlx::query_as("SELECT position, event_id::text, event_type FROM events ORDER BY position")
            .fetch_all(&sys.db.pool)
            .await
            .unwrap();
    all.into_iter()
        .filter(|(_, _, t)| types.is_empty() || types.contains(&t.as_str()))
        .collect()
}

async fn projection(sys: &System, name: &str) -> Option<Value> {
    let all: Value = sys.get("/v1/projections").await.json().await.unwrap();
    all.as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .cloned()
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_get_every_event_once_in_order_signed_and_a_failing_one_only_falls_behind() {
    let mut sys = System::start_with(
        &[
            ("STOCKROOM_WEBHOOKS_TIMEOUT", "1s"),
            ("STOCKROOM_WEBHOOKS_BACKOFF_INITIAL", "100ms"),
            ("STOCKROOM_WEBHOOKS_BACKOFF_MAX", "400ms"),
            ("STOCKROOM_WEBHOOKS_BATCH_SIZE", "3"),
            ("STOCKROOM_WEBHOOKS_RELOAD", "1s"),
        ],
        &[],
    )
    .await;
    for i in 0..4 {
        sys.stock_product(&format!("HOOK-{i}"), 100, 5).await;
    }
    let flaky = Arc::new(Receiver::default());
    flaky.failing.store(true, Ordering::SeqCst);
    let steady = Arc::new(Receiver::default());
    let (flaky_id, flaky_secret) = create(&sys, &start_receiver(flaky.clone()).await, "").await;
    *flaky.secret.lock().unwrap() = flaky_secret.clone();
    let (_, steady_secret) =
        create(&sys, &start_receiver(steady.clone()).await, "StockReceived").await;
    *steady.secret.lock().unwrap() = steady_secret;
    assert!(flaky_secret.starts_with("whsec_"));

    // The secret is the webhooks process's alone: the tools' role made it
    // and may not read it back.
    let mut app = sqlx::PgConnection::connect(&sys.db.app_url).await.unwrap();
    let refused = sqlx::query("SELECT secret FROM webhook_secrets")
        .fetch_all(&mut app)
        .await
        .unwrap_err();
    assert!(
        refused.to_string().contains("permission denied"),
        "{refused}"
    );
    app.close().await.unwrap();

    sys.spawn_worker("webhooks").await;
    // A second instance stands by: each batch still arrives once.
    sys.spawn_worker("webhooks").await;
    // More events while it delivers.
    for i in 4..7 {
        sys.stock_product(&format!("HOOK-{i}"), 100, 5).await;
    }

    // The steady endpoint gets all of its types while the other refuses.
    let wanted = logged(&sys, &["StockReceived"]).await;
    assert_eq!(wanted.len(), 7);
    eventually(
        "the steady endpoint to get every event",
        Duration::from_secs(30),
        || async { (steady.accepted.lock().unwrap().len() >= wanted.len()).then_some(()) },
    )
    .await;
    assert_eq!(*steady.accepted.lock().unwrap(), wanted);
    let flaky_name = format!("webhook:{flaky_id}");
    let behind = eventually(
        "the failing endpoint to show as failing",
        Duration::from_secs(10),
        || async {
            let p = projection(&sys, &flaky_name).await?;
            (p["status"] == "failing").then_some(p)
        },
    )
    .await;
    assert_eq!(behind["position"], 0);
    assert_eq!(behind["lag_events"], 14, "{behind}");
    let (status, doctor) = run_tool(&["doctor"], &sys.env).await;
    assert!(
        doctor.contains(&format!("{flaky_name} (http://")) && doctor.contains("refuses"),
        "{status}: {doctor}"
    );
    // It was tried again and again: refused, and timed out.
    eventually("a few attempts", Duration::from_secs(20), || async {
        (flaky.requests.load(Ordering::SeqCst) >= 4).then_some(())
    })
    .await;
    assert!(flaky.accepted.lock().unwrap().is_empty());

    // It recovers: everything arrives, once, in order.
    flaky.failing.store(false, Ordering::SeqCst);
    let everything = logged(&sys, &[]).await;
    eventually(
        "the recovered endpoint to catch up",
        Duration::from_secs(30),
        || async { (flaky.accepted.lock().unwrap().len() >= everything.len()).then_some(()) },
    )
    .await;
    assert_eq!(*flaky.accepted.lock().unwrap(), everything);
    assert_eq!(
        flaky.forged.load(Ordering::SeqCst),
        0,
        "every request signed"
    );
    assert_eq!(
        steady.forged.load(Ordering::SeqCst),
        0,
        "every request signed"
    );
    let caught_up = eventually(
        "the endpoint to be live again",
        Duration::from_secs(10),
        || async {
            let p = projection(&sys, &flaky_name).await?;
            (p["status"] == "live").then_some(p)
        },
    )
    .await;
    assert_eq!(caught_up["lag_events"], 0);

    // Disabled, it gets nothing more.
    let (status, out) = run_tool(&["webhooks", "disable", &flaky_id], &sys.env).await;
    assert!(status.success(), "{out}");
    tokio::time::sleep(Duration::from_secs(2)).await;
    sys.stock_product("HOOK-LATE", 100, 1).await;
    eventually(
        "the steady endpoint to get the late event",
        Duration::from_secs(20),
        || async { (steady.accepted.lock().unwrap().len() > wanted.len()).then_some(()) },
    )
    .await;
    assert_eq!(flaky.accepted.lock().unwrap().len(), everything.len());
    let (status, listed) = run_tool(&["webhooks", "list", "--json"], &sys.env).await;
    assert!(status.success());
    let listed: Value = serde_json::from_str(listed.trim()).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 2);
    assert!(!listed.to_string().contains("whsec_"), "never a secret");
}
