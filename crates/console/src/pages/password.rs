//! Changing one's own password. Someone whose password was generated or set
//! for them sees only this page until they have chosen their own (the page
//! table's check sends them here). The current password is checked like a
//! sign-in (backed off per account and client, in a hashing slot); a change
//! ends every session of the person and starts a fresh one here.

use std::net::SocketAddr;

use askama::Template;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use axum::Extension;
use serde::Deserialize;
use store::console_users;

use crate::client;
use crate::error::ConsoleError;
use crate::password::{self, MAX_LENGTH, MIN_LENGTH};
use crate::session::{self, CsrfForm, SignedIn};
use crate::state::Console;

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage<'a> {
    csrf: &'a str,
    email: &'a str,
    forced: bool,
    error: Option<&'a str>,
    min: usize,
    max: usize,
}

fn page(who: &SignedIn, status: StatusCode, error: Option<&str>) -> Result<Response, ConsoleError> {
    let html = PasswordPage {
        csrf: &who.csrf,
        email: &who.user.email,
        forced: who.must_change_password,
        error,
        min: MIN_LENGTH,
        max: MAX_LENGTH,
    }
    .render()?;
    Ok((status, Html(html)).into_response())
}

/// `GET /password`.
pub async fn form(Extension(who): Extension<SignedIn>) -> Result<Response, ConsoleError> {
    page(&who, StatusCode::OK, None)
}

/// The change form's fields.
#[derive(Deserialize)]
pub struct Change {
    #[serde(default)]
    current: String,
    #[serde(default)]
    new: String,
    #[serde(default)]
    repeat: String,
}

/// `POST /password`.
pub async fn change(
    State(console): State<Console>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    form: CsrfForm<Change>,
) -> Result<Response, ConsoleError> {
    let CsrfForm { who, form } = form;
    if form.new != form.repeat {
        return page(
            &who,
            StatusCode::BAD_REQUEST,
            Some("The two new passwords differ."),
        );
    }
    if let Err(refused) = password::check(&form.new) {
        return page(&who, StatusCode::BAD_REQUEST, Some(&refused.to_string()));
    }
    if form.new == form.current {
        return page(
            &who,
            StatusCode::BAD_REQUEST,
            Some("The new password must differ from the current one."),
        );
    }
    let email = &who.user.email;
    let client = client::address(peer.ip(), &headers, &console.settings.trusted_proxies);
    if let Some(wait) = console.throttle.wait(email, client) {
        return Err(ConsoleError::TooManyAttempts(wait));
    }
    let stored = console_users::password_hash(&console.pool, who.user.id).await?;
    if !console.hashes.verify(form.current, stored).await? {
        console.throttle.failed(email, client);
        return page(
            &who,
            StatusCode::UNAUTHORIZED,
            Some("The current password is wrong."),
        );
    }
    console.throttle.succeeded(email, client);
    let hash = console.hashes.hash(form.new).await?;
    if console_users::set_password(&console.pool, who.user.id, &hash, false)
        .await?
        .is_none()
    {
        return Err(ConsoleError::NotFound("your account".into()));
    }
    tracing::info!(user = %who.user.id, "console password changed; other sessions ended");
    session::begin(&console, who.user.id, "/").await
}
