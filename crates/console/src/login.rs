//! Signing in and out. The sign-in form is protected from cross-site posts
//! by a token in both a cookie and the form (there is no session yet);
//! failures back off per account and client (`throttle`), hashing is capped
//! (`gate`); a wrong address and a wrong password look and take the same.

use std::net::SocketAddr;
use std::time::Duration;

use askama::Template;
use axum::extract::{ConnectInfo, Form, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use store::console_users;

use crate::client;
use crate::error::ConsoleError;
use crate::session::{
    self, cookie, set_cookie, tokens_match, with_cookie, CsrfForm, SignedIn, SESSION_COOKIE,
    SIGN_IN_COOKIE,
};
use crate::state::Console;

/// How long a sign-in form stays usable.
const SIGN_IN_FORM_LIFETIME: Duration = Duration::from_secs(15 * 60);

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    csrf: &'a str,
    email: &'a str,
    error: Option<&'a str>,
}

/// The sign-in form, sent with a fresh form token.
fn login_page(
    console: &Console,
    status: StatusCode,
    email: &str,
    error: Option<&str>,
) -> Result<Response, ConsoleError> {
    let token = console_users::random_token()?;
    let html = LoginPage {
        csrf: &token,
        email,
        error,
    }
    .render()?;
    let cookie = set_cookie(
        SIGN_IN_COOKIE,
        &token,
        Some(SIGN_IN_FORM_LIFETIME),
        console.settings.secure_cookies,
    );
    Ok(with_cookie((status, Html(html)).into_response(), cookie))
}

/// `GET /login`.
pub async fn form(
    State(console): State<Console>,
    who: Option<axum::Extension<SignedIn>>,
) -> Result<Response, ConsoleError> {
    if who.is_some() {
        return Ok(Redirect::to("/").into_response());
    }
    login_page(&console, StatusCode::OK, "", None)
}

/// The sign-in form's fields.
#[derive(Deserialize)]
pub struct Credentials {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// `POST /login`.
pub async fn submit(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    Form(credentials): Form<Credentials>,
) -> Result<Response, ConsoleError> {
    let expected = cookie(&headers, SIGN_IN_COOKIE).unwrap_or("");
    if !tokens_match(&credentials.csrf, expected) {
        return Err(ConsoleError::Forged);
    }
    let email = credentials.email.trim().to_lowercase();
    let client = client::address(peer.ip(), &headers, &console.settings.trusted_proxies);
    if let Some(wait) = console.throttle.wait(&email, client) {
        tracing::warn!(%client, "sign-in attempt while backing off");
        metrics::counter!("stockroom_console_sign_ins_total", "outcome" => "limited").increment(1);
        return Err(ConsoleError::TooManyAttempts(wait));
    }
    let found = console_users::find_for_sign_in(&console.pool, &email).await?;
    let (user, hash) = match found {
        Some((user, hash)) => (Some(user), Some(hash)),
        None => (None, None),
    };
    let matched = match console.hashes.verify(credentials.password, hash).await {
        Ok(matched) => matched,
        Err(busy) => {
            metrics::counter!("stockroom_console_sign_ins_total", "outcome" => "busy").increment(1);
            return Err(busy);
        }
    };
    let Some(user) = user.filter(|_| matched) else {
        console.throttle.failed(&email, client);
        metrics::counter!("stockroom_console_sign_ins_total", "outcome" => "refused").increment(1);
        return login_page(
            &console,
            StatusCode::UNAUTHORIZED,
            &email,
            Some("Wrong e-mail address or password."),
        );
    };
    console.throttle.succeeded(&email, client);
    tracing::info!(user = %user.id, "signed in to the console");
    metrics::counter!("stockroom_console_sign_ins_total", "outcome" => "signed_in").increment(1);
    session::begin(&console, user.id, "/").await
}

/// No fields besides the token.
#[derive(Deserialize)]
pub struct Nothing {}

/// `POST /logout`.
pub async fn sign_out(
    State(console): State<Console>,
    form: CsrfForm<Nothing>,
) -> Result<Response, ConsoleError> {
    console_users::end_session(&console.pool, &form.who.token).await?;
    Ok(with_cookie(
        Redirect::to("/login").into_response(),
        set_cookie(
            SESSION_COOKIE,
            "",
            Some(Duration::ZERO),
            console.settings.secure_cookies,
        ),
    ))
}
