//! Access control against the real processes: keys, roles, channels,
//! actors, scoped idempotency keys and rate limits (api.md, Access v1.1),
//! including the abuse cases of the OWASP API Security Top 10 that apply.

use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{json, Value};

use crate::support::process::run_tool;
use crate::support::shop::wait_status;
use crate::support::system::client_with;
use crate::support::{eventually, System};

async fn status_of(request: reqwest::RequestBuilder) -> StatusCode {
    request.send().await.unwrap().status()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_kind_of_bad_credential_is_the_same_401() {
    let sys = System::start_with(&[], &[]).await;
    let url = format!("{}/v1/products", sys.query_url());
    let plain = Client::new();
    let (staff_id, staff) = sys.db.create_key_with("staff", None, None).await;
    let (expired_id, expired) = sys.db.create_key_with("staff", None, None).await;
    sqlx::query("UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1")
        .bind(expired_id)
        .execute(&sys.db.pool)
        .await
        .unwrap();
    let wrong_secret = format!("{}{}", &staff[..staff.len() - 4], "0000");
    let cases: Vec<(&str, reqwest::RequestBuilder)> = vec![
        ("no header", plain.get(&url)),
        (
            "empty bearer",
            plain.get(&url).header("Authorization", "Bearer "),
        ),
        (
            "basic scheme",
            plain
                .get(&url)
                .header("Authorization", "Basic c3RhZmY6c2VjcmV0"),
        ),
        (
            "two headers",
            plain
                .get(&url)
                .header("Authorization", format!("Bearer {staff}"))
                .header("Authorization", format!("Bearer {staff}")),
        ),
        (
            "10 KB token",
            plain
                .get(&url)
                .header("Authorization", format!("Bearer {}", "x".repeat(10_240))),
        ),
        (
            "token in the query",
            plain.get(format!("{url}?access_token={staff}")),
        ),
        (
            "right id, wrong secret",
            plain
                .get(&url)
                .header("Authorization", format!("Bearer {wrong_secret}")),
        ),
        (
            "expired",
            plain
                .get(&url)
                .header("Authorization", format!("Bearer {expired}")),
        ),
    ];
    let mut bodies = Vec::new();
    for (what, request) in cases {
        let r = request.send().await.unwrap();
        assert_eq!(r.status(), 401, "{what}");
        let challenge = r.headers()["www-authenticate"].to_str().unwrap().to_owned();
        assert!(
            challenge.starts_with(r#"Bearer realm="stockroom""#),
            "{what}: {challenge}"
        );
        bodies.push(r.json::<Value>().await.unwrap());
    }
    bodies.dedup();
    assert_eq!(
        bodies.len(),
        1,
        "the same body whatever the reason: {bodies:?}"
    );
    // The key itself works.
    assert_eq!(status_of(client_with(&staff).get(&url)).await, 200);

    // Revoked: refused by the running process within a second.
    let (status, _) = run_tool(&["keys", "revoke", &staff_id.to_string()], &sys.env).await;
    assert!(status.success());
    let revoked_at = Instant::now();
    eventually(
        "the revocation to reach the API",
        Duration::from_secs(5),
        || async { (status_of(client_with(&staff).get(&url)).await == 401).then_some(()) },
    )
    .await;
    assert!(
        revoked_at.elapsed() < Duration::from_millis(1500),
        "took {:?}",
        revoked_at.elapsed()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn rotation_keeps_the_old_key_for_its_overlap_then_refuses_it() {
    let sys = System::start_with(&[], &[]).await;
    let url = format!("{}/v1/products", sys.query_url());
    let (status, out) = run_tool(
        &[
            "keys",
            "create",
            "--name",
            "shop",
            "--role",
            "storefront",
            "--channel",
            "web",
            "--json",
        ],
        &sys.env,
    )
    .await;
    assert!(status.success());
    let created: Value = serde_json::from_str(out.trim()).unwrap();
    let old = created["key"].as_str().unwrap().to_owned();
    assert!(old.starts_with("stockroom_"));
    assert_eq!(created["channel"], "web");
    let id = created["id"].as_str().unwrap();
    let (status, out) = run_tool(
        &["keys", "rotate", id, "--overlap", "2s", "--json"],
        &sys.env,
    )
    .await;
    assert!(status.success());
    let rotated: Value = serde_json::from_str(out.trim()).unwrap();
    let new = rotated["key"].as_str().unwrap().to_owned();
    assert_eq!(
        (rotated["role"].as_str(), rotated["channel"].as_str()),
        (Some("storefront"), Some("web"))
    );
    assert_eq!(
        status_of(client_with(&old).get(&url)).await,
        200,
        "within the overlap"
    );
    assert_eq!(status_of(client_with(&new).get(&url)).await, 200);
    tokio::time::sleep(Duration::from_millis(3500)).await;
    assert_eq!(
        status_of(client_with(&old).get(&url)).await,
        401,
        "after the overlap"
    );
    assert_eq!(status_of(client_with(&new).get(&url)).await, 200);

    // The list shows both, and never a secret.
    let (status, listing) = run_tool(&["keys", "list", "--json"], &sys.env).await;
    assert!(status.success());
    assert!(
        !listing.contains(&old[20..]) && !listing.contains(&new[20..]),
        "{listing}"
    );
    let audit: Vec<String> = sqlx::query_scalar("SELECT action FROM api_key_audit ORDER BY id")
        .fetch_all(&sys.db.pool)
        .await
        .unwrap();
    assert!(
        audit.ends_with(&["created".into(), "rotated".into(), "created".into()]),
        "{audit:?}"
    );
    let tamper = sqlx::query("DELETE FROM api_key_audit")
        .execute(&sys.db.pool)
        .await;
    assert!(tamper.is_err(), "the audit trail is append-only");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_storefront_sees_and_acts_on_its_own_channel_only() {
    let sys = System::start_with(&[], &["projector", "reserver"]).await;
    sys.stock_product("CHAN-1", 500, 100).await;
    let web = client_with(&sys.db.create_key("storefront", Some("web")).await);
    let app = client_with(&sys.db.create_key("storefront", Some("app")).await);
    let payments = client_with(&sys.db.create_key("payments", None).await);
    let customer = uuid::Uuid::new_v4();
    let placed: Value = web
        .post(format!("{}/v1/orders", sys.command_url()))
        .json(&json!({"customer_id": customer, "lines": [{"sku": "CHAN-1", "quantity": 1}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = placed["order_id"].as_str().unwrap().to_owned();
    wait_status(&sys, &id, "confirmed", Duration::from_secs(30)).await;
    let order_url = format!("{}/v1/orders/{id}", sys.query_url());
    let mine: Value = web
        .get(&order_url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(mine["channel"], "web");
    let events_before = sys.db.event_count().await;

    // Another channel: by id, by list, by cancellation — as if it did not exist.
    let theirs = app.get(&order_url).send().await.unwrap();
    assert_eq!(theirs.status(), 404);
    let missing = app
        .get(format!(
            "{}/v1/orders/{}",
            sys.query_url(),
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(
        theirs.json::<Value>().await.unwrap()["title"],
        missing.json::<Value>().await.unwrap()["title"]
    );
    let listed: Value = app
        .get(format!(
            "{}/v1/orders?customer_id={customer}",
            sys.query_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(listed["items"], json!([]));
    let cancel = app
        .post(format!(
            "{}/v1/orders/{id}/cancellations",
            sys.command_url()
        ))
        .json(&json!({"reason": "not mine"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancel.status(), 404);
    // Payments are not a storefront's to record, whichever channel.
    let pay = app
        .post(format!("{}/v1/orders/{id}/payments", sys.command_url()))
        .json(&json!({"amount": 500, "currency": "EUR"}))
        .send()
        .await
        .unwrap();
    assert_eq!(pay.status(), 403);
    assert_eq!(
        sys.db.event_count().await,
        events_before,
        "nothing appended"
    );

    // A storefront lists one customer's orders at a time.
    let unscoped = web
        .get(format!("{}/v1/orders", sys.query_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(unscoped.status(), 400);
    let scoped: Value = web
        .get(format!(
            "{}/v1/orders?customer_id={customer}",
            sys.query_url()
        ))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(scoped["items"].as_array().unwrap().len(), 1);
    // Its own channel's order it may cancel; the payments role may read it.
    assert_eq!(status_of(payments.get(&order_url)).await, 200);
    let cancelled = web
        .post(format!(
            "{}/v1/orders/{id}/cancellations",
            sys.command_url()
        ))
        .json(&json!({"reason": "changed mind"}))
        .send()
        .await
        .unwrap();
    assert_eq!(cancelled.status(), 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn smuggled_fields_are_refused_and_the_actor_comes_from_the_key() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("SMUG-1", 500, 10).await;
    let (key_id, token) = sys
        .db
        .create_key_with("storefront", Some("web"), None)
        .await;
    let shop = client_with(&token);
    let before = sys.db.event_count().await;
    for field in ["shop", "channel", "status", "unit_price"] {
        let mut body = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "SMUG-1", "quantity": 1}]});
        body[field] = json!("evil");
        let r = shop
            .post(format!("{}/v1/orders", sys.command_url()))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 422, "{field}");
        let problem: Value = r.json().await.unwrap();
        assert_eq!(problem["errors"][0]["field"], field);
    }
    let mut line_price = json!({"customer_id": uuid::Uuid::new_v4(), "lines": [{"sku": "SMUG-1", "quantity": 1, "unit_price": 1}]});
    let r = shop
        .post(format!("{}/v1/orders", sys.command_url()))
        .json(&line_price)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 422);
    assert_eq!(sys.db.event_count().await, before, "nothing appended");

    line_price["lines"][0]
        .as_object_mut()
        .unwrap()
        .remove("unit_price");
    let r = shop
        .post(format!("{}/v1/orders", sys.command_url()))
        .header("X-Actor", "admin-impersonated")
        .json(&line_price)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let actor: String =
        sqlx::query_scalar("SELECT actor FROM events ORDER BY position DESC LIMIT 1")
            .fetch_one(&sys.db.pool)
            .await
            .unwrap();
    assert_eq!(actor, format!("key:{key_id}"), "X-Actor is ignored");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_same_idempotency_key_from_two_api_keys_places_two_orders() {
    let sys = System::start_with(&[], &[]).await;
    sys.stock_product("IDEM-2", 500, 10).await;
    let mut ids = Vec::new();
    for channel in ["web", "app"] {
        let client = client_with(&sys.db.create_key("storefront", Some(channel)).await);
        let body =
            json!({"customer_id": uuid::Uuid::nil(), "lines": [{"sku": "IDEM-2", "quantity": 1}]});
        let r = client
            .post(format!("{}/v1/orders", sys.command_url()))
            .header("Idempotency-Key", "checkout-42")
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(r.json::<Value>().await.unwrap()["order_id"].clone());
    }
    assert_ne!(ids[0], ids[1], "neither sees the other's response");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_key_over_its_rate_is_429_and_another_key_is_unaffected() {
    let sys = System::start_with(&[], &[]).await;
    let url = format!("{}/v1/products", sys.query_url());
    let (_, slow) = sys.db.create_key_with("analyst", None, Some(5)).await;
    let (_, other) = sys.db.create_key_with("analyst", None, Some(5)).await;
    let slow = client_with(&slow);
    let mut limited = None;
    for _ in 0..20 {
        let r = slow.get(&url).send().await.unwrap();
        if r.status() == 429 {
            limited = Some(r);
            break;
        }
    }
    let limited = limited.expect("the key hit its rate of 5/s");
    let retry_after: u64 = limited.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=2).contains(&retry_after));
    assert_eq!(status_of(client_with(&other).get(&url)).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn operators_see_operations_only_and_analysts_cannot_read_keys() {
    let sys = System::start_with(&[], &[]).await;
    let operator = client_with(&sys.db.create_key("operator", None).await);
    let staff = client_with(&sys.db.create_key("staff", None).await);
    for base in [sys.command_url(), sys.query_url()] {
        assert_eq!(
            status_of(operator.get(format!("{base}/metrics"))).await,
            200
        );
        let r = staff.get(format!("{base}/metrics")).send().await.unwrap();
        assert_eq!(r.status(), 403);
        assert_eq!(
            r.json::<Value>().await.unwrap()["permission"],
            "operations:read"
        );
        assert_eq!(
            status_of(Client::new().get(format!("{base}/healthz"))).await,
            200
        );
    }
    assert_eq!(
        status_of(operator.get(format!("{}/v1/projections", sys.query_url()))).await,
        200
    );
    assert_eq!(
        status_of(operator.get(format!("{}/v1/products", sys.query_url()))).await,
        403
    );

    // A login in the analysts' role reads the read models and not the keys.
    let analyst = sqlx::PgPool::connect(&sys.db.analyst_url()).await.unwrap();
    assert!(sqlx::query("SELECT count(*) FROM read_models.orders")
        .execute(&analyst)
        .await
        .is_ok());
    assert!(sqlx::query("SELECT count(*) FROM api_keys")
        .execute(&analyst)
        .await
        .is_err());
    assert!(sqlx::query("SELECT count(*) FROM api_key_audit")
        .execute(&analyst)
        .await
        .is_err());
}
