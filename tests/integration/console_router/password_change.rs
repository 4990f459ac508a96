//! A generated password is replaced at the first sign-in before anything
//! else is reachable; a change ends the person's other sessions.

use axum::http::StatusCode;
use axum::response::Response;
use console::ConsoleSettings;
use store::console_users;

use super::{app, cookie_set, get, location, post, send, sign_in_token};
use crate::support::TestDb;

const ONE_TIME: &str = "made for you 7Kq2Mx9R";

/// The session cookie a response sets.
fn session_cookie(response: &Response) -> String {
    format!(
        "stockroom_session={}",
        cookie_set(response, "stockroom_session")
    )
}

fn encode(text: &str) -> String {
    text.replace(' ', "+")
}

/// Given a user whose password was generated, when they sign in, then every
/// page but the change form (and signing out) sends them to it; the form
/// refuses bad choices; a good one ends the old session and starts a new one
/// with everything reachable.
#[tokio::test(flavor = "multi_thread")]
async fn a_one_time_password_must_be_replaced_before_anything_else() {
    let db = TestDb::create().await;
    let hash = console::password::hash(ONE_TIME.into()).await.unwrap();
    let user = console_users::create_one_time(&db.pool, "new@example.com", "admin", &hash)
        .await
        .unwrap()
        .unwrap();
    let app = app(&db.pool, ConsoleSettings::default());
    let (form, _) = send(&app, get("/login", "")).await;
    let token = sign_in_token(&form);
    let sign_in = format!(
        "email=new%40example.com&password={}&csrf={token}",
        encode(ONE_TIME)
    );
    let (signed_in, _) = send(
        &app,
        post("/login", &format!("stockroom_sign_in={token}"), &sign_in),
    )
    .await;
    assert_eq!(signed_in.status(), StatusCode::SEE_OTHER);
    let old = session_cookie(&signed_in);

    for path in ["/", "/orders", "/projections", "/parked"] {
        let (sent, _) = send(&app, get(path, &old)).await;
        assert_eq!(sent.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(location(&sent), "/password", "{path}");
    }
    let (sent, _) = send(&app, post("/products", &old, "csrf=x&sku=A")).await;
    assert_eq!(location(&sent), "/password", "forms too");
    let (page, html) = send(&app, get("/password", &old)).await;
    assert_eq!(page.status(), StatusCode::OK);
    assert!(html.contains("choose your own"));
    let csrf = html
        .split(r#"name="csrf" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();

    let change = |current: &str, new: &str, repeat: &str| {
        format!(
            "csrf={csrf}&current={}&new={}&repeat={}",
            encode(current),
            encode(new),
            encode(repeat)
        )
    };
    let mine = "my very own passphrase";
    for (form, why) in [
        (
            change(ONE_TIME, "Qwerty123456", "Qwerty123456"),
            "most common",
        ),
        (change(ONE_TIME, "short one", "short one"), "at least 12"),
        (
            change(ONE_TIME, &"x".repeat(129), &"x".repeat(129)),
            "at most 128",
        ),
        (change(ONE_TIME, mine, "my very own passphrasE"), "differ"),
        (
            change(ONE_TIME, ONE_TIME, ONE_TIME),
            "must differ from the current",
        ),
    ] {
        let (refused, html) = send(&app, post("/password", &old, &form)).await;
        assert_eq!(refused.status(), StatusCode::BAD_REQUEST, "{why}");
        assert!(html.contains(why), "{why}: {html}");
    }
    let (refused, html) = send(
        &app,
        post("/password", &old, &change("not the password", mine, mine)),
    )
    .await;
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(html.contains("current password is wrong"));
    let (forged, _) = send(
        &app,
        post(
            "/password",
            &old,
            &change(ONE_TIME, mine, mine).replace(&csrf, "other"),
        ),
    )
    .await;
    assert_eq!(forged.status(), StatusCode::FORBIDDEN);

    let (changed, _) = send(&app, post("/password", &old, &change(ONE_TIME, mine, mine))).await;
    assert_eq!(changed.status(), StatusCode::SEE_OTHER);
    assert_eq!(location(&changed), "/");
    let new = session_cookie(&changed);
    let (after, _) = send(&app, get("/", &old)).await;
    assert_eq!(
        location(&after),
        "/login",
        "the old session ended with the change"
    );
    let (dashboard, _) = send(&app, get("/", &new)).await;
    assert_eq!(dashboard.status(), StatusCode::OK);
    assert!(crate::users::has_password(&db.pool, "new@example.com", mine).await);
    let listed = console_users::list(&db.pool).await.unwrap();
    let me = listed.iter().find(|u| u.user.id == user.id).unwrap();
    assert!(!me.must_change_password);
    assert_eq!(me.sessions, 1);
}
