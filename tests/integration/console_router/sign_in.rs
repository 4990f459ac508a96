//! Signing in and out, sessions, and making users on the command line.

use axum::http::{header, StatusCode};
use console::ConsoleSettings;
use store::console_users;

use super::{app, get, lifetime, location, post, send, sign_in_token, signed_in, PASSWORD};
use crate::support::process::run_tool_with_input;
use crate::support::TestDb;

#[tokio::test(flavor = "multi_thread")]
async fn signing_in_needs_the_form_token_and_the_right_password() {
    let db = TestDb::create().await;
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    console_users::create(&db.pool, "Ops@Example.com", "operator", &hash)
        .await
        .unwrap()
        .unwrap();
    let app = app(&db.pool, ConsoleSettings::default());

    let (form, html) = send(&app, get("/login", "")).await;
    assert_eq!(form.status(), StatusCode::OK);
    let token = sign_in_token(&form);
    assert!(html.contains(&format!(r#"name="csrf" value="{token}""#)));
    let cookie = format!("stockroom_sign_in={token}");

    let forged = format!("email=ops%40example.com&password={PASSWORD}&csrf=other");
    let (refused, _) = send(&app, post("/login", &cookie, &forged)).await;
    assert_eq!(
        refused.status(),
        StatusCode::FORBIDDEN,
        "a token from elsewhere"
    );

    let wrong = format!("email=ops%40example.com&password=wrong+password&csrf={token}");
    let (refused, html) = send(&app, post("/login", &cookie, &wrong)).await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(html.contains("Wrong e-mail address or password."));
    let unknown = format!("email=nobody%40example.com&password=wrong+password&csrf={token}");
    let (refused, same) = send(&app, post("/login", &cookie, &unknown)).await;
    assert_eq!(
        refused.status(),
        StatusCode::UNAUTHORIZED,
        "an unknown address reads like a wrong password"
    );
    assert!(same.contains("Wrong e-mail address or password."));

    let right = format!(
        "email=OPS%40example.com&password={}&csrf={token}",
        PASSWORD.replace(' ', "+")
    );
    let (signed_in, _) = send(&app, post("/login", &cookie, &right)).await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&signed_in), "/");
    let session = signed_in
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with("stockroom_session="))
        .unwrap()
        .to_owned();
    for attribute in ["HttpOnly", "SameSite=Strict", "Secure", "Path=/"] {
        assert!(session.contains(attribute), "{session} has {attribute}");
    }
    let stored: Vec<u8> = sqlx::query_scalar("SELECT token_hash FROM console_sessions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    let token = session
        .trim_start_matches("stockroom_session=")
        .split(';')
        .next()
        .unwrap();
    assert_ne!(
        stored,
        token.as_bytes(),
        "only a hash of the session token is kept"
    );
    let (dashboard, html) = send(&app, get("/", &format!("stockroom_session={token}"))).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(html.contains("ops@example.com (operator)"));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_attempts_are_limited_per_address() {
    let db = TestDb::create().await;
    let settings = ConsoleSettings {
        sign_in_free_failures: 2,
        ..ConsoleSettings::default()
    };
    let app = app(&db.pool, settings);
    let (form, _) = send(&app, get("/login", "")).await;
    let token = sign_in_token(&form);
    let cookie = format!("stockroom_sign_in={token}");
    let attempt = format!("email=someone%40example.com&password=guess+number+one&csrf={token}");
    for _ in 0..2 {
        let (refused, _) = send(&app, post("/login", &cookie, &attempt)).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    }
    let (limited, html) = send(&app, post("/login", &cookie, &attempt)).await;
    assert_eq!(limited.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(html.contains("too many sign-in attempts"));
    assert_eq!(
        limited.headers()[header::RETRY_AFTER],
        "1",
        "the first wait"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_when_idle_or_signed_out() {
    let db = TestDb::create().await;
    let (cookie, csrf) = signed_in(&db, "staff").await;
    let token = cookie.trim_start_matches("stockroom_session=").to_owned();
    let idle = lifetime(60);
    sqlx::query("UPDATE console_sessions SET last_seen_at = now() - interval '2 minutes'")
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(console_users::touch_session(&db.pool, &token, idle)
        .await
        .unwrap()
        .is_none());
    assert_eq!(console_users::purge_ended(&db.pool, idle).await.unwrap(), 1);

    let (cookie, csrf_now) = signed_in(&db, "staff").await;
    assert_ne!(csrf, csrf_now, "every session has its own form token");
    let app = app(&db.pool, ConsoleSettings::default());
    let (out, _) = send(&app, post("/logout", &cookie, &format!("csrf={csrf_now}"))).await;
    assert_eq!(location(&out), "/login");
    let (after, _) = send(&app, get("/", &cookie)).await;
    assert_eq!(location(&after), "/login");
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM console_sessions")
        .fetch_one(&db.pool)
        .await
        .unwrap();
    assert_eq!(left, 0);
}

/// Given a session used a moment ago but started longer ago than the
/// absolute lifetime (12 hours by default), it has ended.
#[tokio::test(flavor = "multi_thread")]
async fn sessions_end_at_their_absolute_lifetime_however_busy() {
    let db = TestDb::create().await;
    let (cookie, _) = signed_in(&db, "staff").await;
    let app = app(&db.pool, ConsoleSettings::default());
    assert_eq!(
        ConsoleSettings::default().session_lifetime,
        std::time::Duration::from_secs(12 * 3600)
    );
    sqlx::query("UPDATE console_sessions SET created_at = now() - interval '11 hours 59 minutes'")
        .execute(&db.pool)
        .await
        .unwrap();
    let (page, _) = send(&app, get("/", &cookie)).await;
    assert_eq!(page.status(), StatusCode::OK, "still within its lifetime");
    sqlx::query(
        "UPDATE console_sessions SET created_at = now() - interval '12 hours 1 minute', \
                last_seen_at = now()",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let (page, _) = send(&app, get("/", &cookie)).await;
    assert_eq!(location(&page), "/login", "too old, though just used");
    let day = lifetime(60);
    let mut short = day;
    short.absolute = std::time::Duration::from_secs(3600);
    assert_eq!(console_users::purge_ended(&db.pool, day).await.unwrap(), 0);
    assert_eq!(
        console_users::purge_ended(&db.pool, short).await.unwrap(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn users_are_made_on_the_command_line_with_a_typed_password_or_a_one_time_one() {
    let db = TestDb::create().await;
    let env = vec![("DATABASE_URL".to_owned(), db.url.clone())];
    let typed = "typed on standard input\n";
    let (status, printed) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "Lea@Example.com",
            "--role",
            "staff",
            "--password-stdin",
        ],
        &env,
        typed,
    )
    .await;
    assert!(status.success());
    assert!(printed.is_empty(), "a typed password is not printed back");
    let (user, hash) = console_users::find_for_sign_in(&db.pool, "lea@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(user.role, "staff");
    assert!(
        hash.starts_with("$argon2id$"),
        "only an Argon2id hash is kept"
    );
    assert!(console::password::verify("typed on standard input".into(), Some(hash)).await);

    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "lea@example.com",
            "--role",
            "staff",
            "--password-stdin",
        ],
        &env,
        typed,
    )
    .await;
    assert!(!status.success(), "one account per address");
    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "max@example.com",
            "--role",
            "storefront",
        ],
        &env,
        "",
    )
    .await;
    assert!(
        !status.success(),
        "storefront is a role for keys, not people"
    );
    let (status, _) = run_tool_with_input(
        &[
            "users",
            "create",
            "--email",
            "max@example.com",
            "--role",
            "admin",
            "--password-stdin",
        ],
        &env,
        "short\n",
    )
    .await;
    assert!(!status.success(), "too short a password");
}
