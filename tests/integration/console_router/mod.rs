//! The console's HTTP plumbing with `oneshot` over a real database: signing
//! in, sessions, CSRF, the page table's role checks, and forms that refuse
//! bad input without changing anything.

use std::net::SocketAddr;
use std::time::Duration;

use axum::body::{to_bytes, Body};
use axum::extract::connect_info::MockConnectInfo;
use axum::http::{header, Request};
use axum::response::Response;
use axum::Router;
use console::{Console, ConsoleSettings};
use sqlx::PgPool;
use store::console_users;
use store::RetryPolicy;
use tower::ServiceExt;
use web::auth::Authenticator;
use web::probes::Probes;

use crate::support::TestDb;

mod limits;
mod locations;
mod pages;
mod password_change;
mod sign_in;

pub(super) const PASSWORD: &str = "a long enough password";

pub(super) fn app(pool: &PgPool, settings: ConsoleSettings) -> Router {
    let probes = Probes::new(
        pool.clone(),
        bus::admin::BrokerProbe::new(&bus::KafkaConfig::new("127.0.0.1:9")).unwrap(),
        Duration::from_millis(200),
    );
    let commands = command_api::AppState::new(
        pool.clone(),
        probes,
        RetryPolicy::default(),
        Authenticator::new(pool.clone()),
        store::Notifier::disabled(),
    );
    let stop = tokio::sync::watch::channel(false).1;
    console::router(Console::new(commands, settings, stop))
        .layer(MockConnectInfo(SocketAddr::from(([127, 0, 0, 1], 50000))))
}

/// A user with `role` and a signed-in session: (cookie header, CSRF token).
pub(super) async fn signed_in(db: &TestDb, role: &str) -> (String, String) {
    let email = format!("{}@example.com", crate::support::unique(role));
    let hash = console::password::hash(PASSWORD.into()).await.unwrap();
    let user = console_users::create(&db.pool, &email, role, &hash)
        .await
        .unwrap()
        .unwrap();
    let token = console_users::start_session(&db.pool, user.id)
        .await
        .unwrap();
    let session = console_users::touch_session(&db.pool, &token, lifetime(60))
        .await
        .unwrap()
        .unwrap();
    (format!("stockroom_session={token}"), session.csrf_token)
}

/// Sessions that end after `idle_seconds` unused, or a day after signing in.
pub(super) fn lifetime(idle_seconds: u64) -> console_users::SessionLifetime {
    console_users::SessionLifetime {
        idle: Duration::from_secs(idle_seconds),
        absolute: Duration::from_secs(86_400),
    }
}

pub(super) async fn send(app: &Router, request: Request<Body>) -> (Response, String) {
    let response = app.clone().oneshot(request).await.unwrap();
    let (parts, body) = response.into_parts();
    let text = String::from_utf8(to_bytes(body, 1 << 22).await.unwrap().to_vec()).unwrap();
    (Response::from_parts(parts, Body::empty()), text)
}

pub(super) fn get(path: &str, cookie: &str) -> Request<Body> {
    Request::get(path)
        .header(header::COOKIE, cookie)
        .body(Body::empty())
        .unwrap()
}

pub(super) fn post(path: &str, cookie: &str, form: &str) -> Request<Body> {
    Request::post(path)
        .header(header::COOKIE, cookie)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form.to_owned()))
        .unwrap()
}

pub(super) fn location(response: &Response) -> &str {
    response.headers()[header::LOCATION].to_str().unwrap()
}

/// The value of the cookie `name` that `response` sets.
pub(super) fn cookie_set(response: &Response, name: &str) -> String {
    let prefix = format!("{name}=");
    response
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|c| c.strip_prefix(prefix.as_str()))
        .and_then(|c| c.split(';').next())
        .unwrap()
        .to_owned()
}

/// The sign-in form's token, from its cookie.
pub(super) fn sign_in_token(response: &Response) -> String {
    cookie_set(response, "stockroom_sign_in")
}
