//! Sign-in limiting: only failures count, against the pair of an account
//! and a client (the address a trusted proxy names, else the peer's), and a
//! cap on concurrent hashing answers 503 at once instead of queueing.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{header, Request, StatusCode};
use axum::Router;
use console::ConsoleSettings;
use store::console_users;

use super::{app, get, location, post, send, sign_in_token, PASSWORD};
use crate::support::TestDb;

/// A sign-in form's cookie and token.
async fn form(app: &Router) -> (String, String) {
    let (form, _) = send(app, get("/login", "")).await;
    let token = sign_in_token(&form);
    (format!("stockroom_sign_in={token}"), token)
}

/// A sign-in as `email` with `password` from `peer`, naming `forwarded` in
/// `X-Forwarded-For` if given.
fn attempt(
    (cookie, token): &(String, String),
    email: &str,
    password: &str,
    peer: [u8; 4],
    forwarded: Option<&str>,
) -> Request<Body> {
    let body = format!(
        "email={}&password={}&csrf={token}",
        email.replace('@', "%40"),
        password.replace(' ', "+")
    );
    let mut request = post("/login", cookie, &body);
    request
        .extensions_mut()
        .insert(ConnectInfo(SocketAddr::from((peer, 40000))));
    if let Some(forwarded) = forwarded {
        request
            .headers_mut()
            .insert("x-forwarded-for", forwarded.parse().unwrap());
    }
    request
}

async fn admin(db: &TestDb) {
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    console_users::create(&db.pool, "admin@localhost", "admin", &hash)
        .await
        .unwrap()
        .unwrap();
}

/// Given the admin and someone guessing at their address, when the guesser
/// has used up their failures, then the guesser waits but the admin signs in
/// from their own address, and signing in often is never limited.
#[tokio::test(flavor = "multi_thread")]
async fn a_guesser_backs_off_alone_and_right_passwords_never_count() {
    let db = TestDb::create().await;
    admin(&db).await;
    let settings = ConsoleSettings {
        sign_in_free_failures: 2,
        ..ConsoleSettings::default()
    };
    let app = app(&db.pool, settings);
    let form = form(&app).await;
    let (office, attacker) = ([192, 0, 2, 10], [203, 0, 113, 66]);
    let admin_from = |password: &str, peer| {
        let request = attempt(&form, "admin@localhost", password, peer, None);
        let app = app.clone();
        async move { send(&app, request).await.0 }
    };
    let guess = "a wrong guess here";

    for _ in 0..4 {
        let signed_in = admin_from(PASSWORD, office).await;
        assert_eq!(
            signed_in.status(),
            StatusCode::SEE_OTHER,
            "successes are not counted"
        );
        assert_eq!(location(&signed_in), "/");
    }

    for _ in 0..2 {
        assert_eq!(
            admin_from(guess, attacker).await.status(),
            StatusCode::UNAUTHORIZED
        );
    }
    let limited = admin_from(PASSWORD, attacker).await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the guessing pair waits"
    );
    assert!(limited.headers().contains_key(header::RETRY_AFTER));

    assert_eq!(
        admin_from(PASSWORD, office).await.status(),
        StatusCode::SEE_OTHER,
        "the real admin, from their own address, is not locked out"
    );
    let other = attempt(&form, "someone@localhost", guess, attacker, None);
    assert_eq!(
        send(&app, other).await.0.status(),
        StatusCode::UNAUTHORIZED,
        "another account from the guesser is its own pair"
    );

    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(
        admin_from(guess, attacker).await.status(),
        StatusCode::UNAUTHORIZED,
        "after the first wait"
    );
    let limited = admin_from(PASSWORD, attacker).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(
        limited.headers()[header::RETRY_AFTER],
        "2",
        "the wait doubled"
    );
}

/// Given a console behind a trusted proxy, the client is the address the
/// proxy names; from any other peer, `X-Forwarded-For` changes nothing.
#[tokio::test(flavor = "multi_thread")]
async fn forwarded_for_names_the_client_only_from_a_trusted_proxy() {
    let db = TestDb::create().await;
    admin(&db).await;
    let proxy = [10, 0, 0, 2];
    let behind_proxy = app(
        &db.pool,
        ConsoleSettings {
            sign_in_free_failures: 1,
            trusted_proxies: vec!["10.0.0.0/24".parse().unwrap()],
            ..ConsoleSettings::default()
        },
    );
    let form_a = form(&behind_proxy).await;
    let guess = |peer, forwarded| {
        attempt(
            &form_a,
            "admin@localhost",
            "a wrong guess here",
            peer,
            Some(forwarded),
        )
    };
    let (refused, _) = send(&behind_proxy, guess(proxy, "203.0.113.5")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (limited, _) = send(&behind_proxy, guess(proxy, "203.0.113.5")).await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "the same client"
    );
    let (other, _) = send(&behind_proxy, guess(proxy, "203.0.113.6")).await;
    assert_eq!(
        other.status(),
        StatusCode::UNAUTHORIZED,
        "another client behind the same proxy"
    );
    let admin_in = attempt(
        &form_a,
        "admin@localhost",
        PASSWORD,
        proxy,
        Some("198.51.100.7"),
    );
    assert_eq!(
        send(&behind_proxy, admin_in).await.0.status(),
        StatusCode::SEE_OTHER
    );

    let direct = app(
        &db.pool,
        ConsoleSettings {
            sign_in_free_failures: 1,
            ..ConsoleSettings::default()
        },
    );
    let form_b = form(&direct).await;
    let peer = [203, 0, 113, 9];
    let forged = |forwarded| {
        attempt(
            &form_b,
            "admin@localhost",
            "a wrong guess here",
            peer,
            Some(forwarded),
        )
    };
    let (refused, _) = send(&direct, forged("192.0.2.1")).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    let (limited, _) = send(&direct, forged("192.0.2.2")).await;
    assert_eq!(
        limited.status(),
        StatusCode::TOO_MANY_REQUESTS,
        "a made-up X-Forwarded-For from a client is not believed"
    );
}

/// Given room for one password hash at a time and no waiting, when many
/// sign-ins arrive together, then those finding no slot get a 503 with
/// Retry-After at once, and the rest their usual answer.
#[tokio::test(flavor = "multi_thread")]
async fn hashing_past_the_cap_is_refused_at_once() {
    let db = TestDb::create().await;
    let app = app(
        &db.pool,
        ConsoleSettings {
            max_concurrent_hashes: 1,
            hash_wait: Duration::ZERO,
            ..ConsoleSettings::default()
        },
    );
    let form = form(&app).await;
    let started = std::time::Instant::now();
    let answers = futures::future::join_all((0..8u8).map(|i| {
        let request = attempt(
            &form,
            "nobody@localhost",
            "some wrong password",
            [192, 0, 2, i],
            None,
        );
        let app = app.clone();
        tokio::spawn(async move { send(&app, request).await.0 })
    }))
    .await;
    let statuses: Vec<StatusCode> = answers.into_iter().map(|a| a.unwrap().status()).collect();
    let busy: Vec<_> = statuses
        .iter()
        .filter(|s| **s == StatusCode::SERVICE_UNAVAILABLE)
        .collect();
    assert!(!busy.is_empty(), "{statuses:?}");
    assert!(
        statuses
            .iter()
            .all(|s| [StatusCode::SERVICE_UNAVAILABLE, StatusCode::UNAUTHORIZED].contains(s)),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::UNAUTHORIZED),
        "one was checked"
    );
    assert!(started.elapsed() < Duration::from_secs(10));
}
