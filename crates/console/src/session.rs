//! Sessions: the cookie, finding the signed-in person on every request, and
//! the CSRF check every form goes through.

use std::collections::HashMap;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{FromRequest, Request, State};
use axum::http::header::{COOKIE, SET_COOKIE};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde::de::DeserializeOwned;
use store::console_users::{self, ConsoleUser};
use subtle::ConstantTimeEq;
use uuid::Uuid;
use web::access::Role;

use crate::error::ConsoleError;
use crate::state::Console;

/// The session cookie.
pub const SESSION_COOKIE: &str = "stockroom_session";

/// The cookie holding the sign-in form's token.
pub const SIGN_IN_COOKIE: &str = "stockroom_sign_in";

/// Every form's CSRF field.
pub const CSRF_FIELD: &str = "csrf";

/// The signed-in person, on every request that has a live session.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// Who.
    pub user: ConsoleUser,
    /// What they may do (api.md's roles).
    pub role: Role,
    /// The token this session's forms carry.
    pub csrf: String,
    /// Until they choose their own password, only the change form is
    /// theirs to use.
    pub must_change_password: bool,
    /// The cookie's token, to end the session.
    pub(crate) token: String,
}

impl SignedIn {
    /// The actor events caused by this person record.
    pub fn actor(&self) -> String {
        format!("user:{}", self.user.id)
    }
}

/// The value of cookie `name`, if the request has it.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
}

/// A `Set-Cookie` for `name`: HttpOnly, SameSite=Strict, the whole site,
/// `Secure` when configured; `max_age` zero deletes it, `None` lasts for the
/// browser session (the server decides when a session ends).
pub fn set_cookie(name: &str, value: &str, max_age: Option<Duration>, secure: bool) -> HeaderValue {
    let mut cookie = format!("{name}={value}; Path=/; HttpOnly; SameSite=Strict");
    if let Some(age) = max_age {
        cookie.push_str(&format!("; Max-Age={}", age.as_secs()));
    }
    if secure {
        cookie.push_str("; Secure");
    }
    HeaderValue::from_str(&cookie).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// Adds `Set-Cookie: value` to `response`.
pub fn with_cookie(mut response: Response, value: HeaderValue) -> Response {
    response.headers_mut().append(SET_COOKIE, value);
    response
}

/// Finds the request's live session (restarting its idle clock) and puts
/// the person on the request.
pub async fn load(
    State(console): State<Console>,
    mut request: Request,
    next: Next,
) -> Result<Response, ConsoleError> {
    let token = cookie(request.headers(), SESSION_COOKIE).map(str::to_owned);
    if let Some(token) = token {
        let lifetime = console.settings.session_lifetime();
        let session = console_users::touch_session(&console.pool, &token, lifetime).await?;
        let signed_in = session.and_then(|s| {
            // A role the console does not know signs nobody in.
            let role: Role = s.user.role.parse().ok()?;
            Some(SignedIn {
                user: s.user,
                role,
                csrf: s.csrf_token,
                must_change_password: s.must_change_password,
                token,
            })
        });
        if let Some(signed_in) = signed_in {
            request.extensions_mut().insert(signed_in);
        }
    }
    Ok(next.run(request).await)
}

/// Starts a session for `user` and sends them to `to` with its cookie (and
/// the sign-in form's cookie deleted).
pub async fn begin(console: &Console, user: Uuid, to: &str) -> Result<Response, ConsoleError> {
    let token = console_users::start_session(&console.pool, user).await?;
    let secure = console.settings.secure_cookies;
    let response = with_cookie(
        Redirect::to(to).into_response(),
        set_cookie(SESSION_COOKIE, &token, None, secure),
    );
    Ok(with_cookie(
        response,
        set_cookie(SIGN_IN_COOKIE, "", Some(Duration::ZERO), secure),
    ))
}

/// Whether `sent` is `expected`, in constant time.
pub fn tokens_match(sent: &str, expected: &str) -> bool {
    !expected.is_empty() && bool::from(sent.as_bytes().ct_eq(expected.as_bytes()))
}

/// A form from a signed-in person, refused unless it carries their
/// session's CSRF token.
pub struct CsrfForm<T> {
    /// Who sent it.
    pub who: SignedIn,
    /// The fields.
    pub form: T,
}

impl<T: DeserializeOwned> FromRequest<Console> for CsrfForm<T> {
    type Rejection = ConsoleError;

    async fn from_request(request: Request, state: &Console) -> Result<Self, ConsoleError> {
        let who = request
            .extensions()
            .get::<SignedIn>()
            .cloned()
            .ok_or(ConsoleError::Forged)?;
        let bytes = Bytes::from_request(request, state)
            .await
            .map_err(|e| ConsoleError::BadForm(e.body_text()))?;
        let fields: HashMap<String, String> = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::BadForm(e.to_string()))?;
        let sent = fields.get(CSRF_FIELD).map(String::as_str).unwrap_or("");
        if !tokens_match(sent, &who.csrf) {
            return Err(ConsoleError::Forged);
        }
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| ConsoleError::BadForm(e.to_string()))?;
        Ok(Self { who, form })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_are_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            COOKIE,
            HeaderValue::from_static("a=1; stockroom_session=abc; b=2"),
        );
        assert_eq!(cookie(&headers, SESSION_COOKIE), Some("abc"));
        assert_eq!(cookie(&headers, "missing"), None);
    }

    #[test]
    fn session_cookies_are_http_only_strict_and_secure_when_asked() {
        let value = set_cookie(SESSION_COOKIE, "t", None, true);
        let text = value.to_str().unwrap();
        assert!(
            text.contains("HttpOnly")
                && text.contains("SameSite=Strict")
                && text.ends_with("Secure")
        );
        let deleted = set_cookie(SESSION_COOKIE, "", Some(Duration::ZERO), false);
        assert!(deleted.to_str().unwrap().contains("Max-Age=0"));
    }

    #[test]
    fn tokens_match_only_when_equal_and_never_when_empty() {
        assert!(tokens_match("abc", "abc"));
        assert!(!tokens_match("abd", "abc"));
        assert!(!tokens_match("", ""));
    }
}
