//! Request extractors that turn every malformed input into a precise
//! [`ApiError`]: JSON bodies and the command headers.

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, StatusCode};
use serde::de::DeserializeOwned;
use serde_json::Value;
use sha2::{Digest, Sha256};
use store::trace::TraceParent;
use store::EventMetadata;
use uuid::Uuid;
use web::auth::Principal;
use web::FieldError;

use crate::error::ApiError;

/// A JSON body, plus a fingerprint of the request for idempotency checks.
#[derive(Debug)]
pub struct JsonBody<T> {
    /// The decoded body.
    pub value: T,
    /// SHA-256 of method, path and the body's canonical JSON.
    pub fingerprint: Vec<u8>,
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .map(|mime| {
            let mime = mime.trim().to_ascii_lowercase();
            mime == "application/json"
                || (mime.starts_with("application/") && mime.ends_with("+json"))
        })
        .unwrap_or(false)
}

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for JsonBody<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        if !is_json(req.headers()) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let mut hasher = Sha256::new();
        hasher.update(req.method().as_str());
        hasher.update(b" ");
        hasher.update(req.uri().path());
        hasher.update(b"\n");
        let bytes = Bytes::from_request(req, state).await.map_err(|rejection| {
            if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge
            } else {
                ApiError::MalformedJson(rejection.body_text())
            }
        })?;
        let mut json: Value =
            serde_json::from_slice(&bytes).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        integral_numbers_as_integers(&mut json);
        if let Some(field) = path_of_nul(&json, &mut String::new()) {
            return Err(ApiError::Validation(vec![FieldError::new(
                field,
                "must not contain the NUL character (U+0000)",
            )]));
        }
        // Object keys serialize sorted, so equal bodies hash equal whatever
        // their key order or whitespace.
        hasher.update(json.to_string());
        let value = serde_path_to_error::deserialize(&json)
            .map_err(|e| ApiError::Validation(vec![field_error(e)]))?;
        Ok(Self {
            value,
            fingerprint: hasher.finalize().to_vec(),
        })
    }
}

/// Writes every number with no fractional part (`2500.0`, `2.5e3`) as the
/// integer it is. JSON Schema counts such a number as an `integer`, so a
/// client generated from the document may send one; serde would refuse it
/// where the body wants an `i64`. Numbers beyond `i64` stay as they are
/// (and are refused as out of range).
fn integral_numbers_as_integers(value: &mut Value) {
    match value {
        Value::Number(n) if n.is_f64() => {
            if let Some(f) = n.as_f64() {
                // `i64::MAX as f64` is 2^63, one past the largest i64.
                if f.fract() == 0.0 && f >= i64::MIN as f64 && f < i64::MAX as f64 {
                    *value = Value::from(f as i64);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(integral_numbers_as_integers),
        Value::Object(fields) => fields.values_mut().for_each(integral_numbers_as_integers),
        _ => {}
    }
}

/// The path (`lines[0].sku`, as serde_path_to_error writes them) of the
/// first string or key holding a NUL, which Postgres can store in neither
/// `text` nor `jsonb`: refused here for every body, before any command sees it.
fn path_of_nul(value: &Value, path: &mut String) -> Option<String> {
    let here = |path: &String| {
        if path.is_empty() {
            "body".to_owned()
        } else {
            path.clone()
        }
    };
    match value {
        Value::String(s) if s.contains('\0') => Some(here(path)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            let len = path.len();
            path.push_str(&format!("[{i}]"));
            let found = path_of_nul(item, path);
            path.truncate(len);
            found
        }),
        Value::Object(fields) => fields.iter().find_map(|(key, item)| {
            let len = path.len();
            if !path.is_empty() {
                path.push('.');
            }
            path.push_str(key);
            let found = if key.contains('\0') {
                Some(here(path))
            } else {
                path_of_nul(item, path)
            };
            path.truncate(len);
            found
        }),
        _ => None,
    }
}

/// Names the field a serde error is about.
fn field_error(e: serde_path_to_error::Error<serde_json::Error>) -> FieldError {
    let path = e.path().to_string();
    let message = e.inner().to_string();
    // serde reports a missing field at its parent's path; name it fully.
    let missing = message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.split('`').next());
    let field = match (missing, path.as_str()) {
        (Some(name), ".") => name.to_owned(),
        (Some(name), parent) => format!("{parent}.{name}"),
        (None, ".") => "body".to_owned(),
        (None, path) => path.to_owned(),
    };
    let message = message
        .split(" at line ")
        .next()
        .unwrap_or(&message)
        .to_owned();
    FieldError::new(field, message)
}

/// The headers a command may carry.
#[derive(Debug, Clone)]
pub struct CommandHeaders {
    /// `Idempotency-Key`.
    pub idempotency_key: Option<String>,
    /// `If-Match: "<version>"`.
    pub if_match: Option<i64>,
    /// Correlation (from `X-Correlation-Id` or new), causation (the request
    /// id) and actor (the authenticated key; no header can set it).
    pub metadata: EventMetadata,
    /// Who is calling.
    pub principal: Principal,
}

impl CommandHeaders {
    /// A command sent by something other than an HTTP request (the console):
    /// no idempotency key or version check, a new correlation, and `actor`
    /// recorded on every event.
    pub fn acting_as(principal: Principal, actor: String) -> Self {
        Self {
            idempotency_key: None,
            if_match: None,
            metadata: EventMetadata::new_correlation(Some(actor)),
            principal,
        }
    }
}

const MAX_KEY_LEN: usize = 255;

/// A stream version as `If-Match` carries it: an entity tag, so in quotes,
/// of at most [`web::openapi::IF_MATCH_MAX_DIGITS`] digits (the document's
/// pattern says the same).
fn parse_if_match(raw: &str) -> Option<i64> {
    let digits = raw.strip_prefix('"')?.strip_suffix('"')?;
    let plain = !digits.is_empty()
        && digits.len() <= web::openapi::IF_MATCH_MAX_DIGITS
        && digits.bytes().all(|b| b.is_ascii_digit());
    plain.then(|| digits.parse().ok()).flatten()
}

fn text<'a>(parts: &'a Parts, name: &'static str) -> Result<Option<&'a str>, ApiError> {
    parts
        .headers
        .get(name)
        .map(|v| {
            v.to_str().map_err(|_| ApiError::BadHeader {
                name,
                message: "must be visible ASCII".into(),
            })
        })
        .transpose()
}

impl<S: Send + Sync> FromRequestParts<S> for CommandHeaders {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        let idempotency_key = text(parts, "idempotency-key")?
            .map(|key| {
                if key.is_empty() || key.len() > MAX_KEY_LEN {
                    Err(ApiError::BadHeader {
                        name: "Idempotency-Key",
                        message: format!("must be 1 to {MAX_KEY_LEN} characters"),
                    })
                } else {
                    Ok(key.to_owned())
                }
            })
            .transpose()?;
        // An empty list of entity tags states no condition (RFC 9110's
        // list syntax admits it): the same as no header.
        let if_match = text(parts, "if-match")?
            .filter(|raw| !raw.trim().is_empty())
            .map(|raw| {
                parse_if_match(raw).ok_or(ApiError::BadHeader {
                    name: "If-Match",
                    message: "must be a stream version in quotes, such as \"3\"".into(),
                })
            })
            .transpose()?;
        let correlation_id = match text(parts, "x-correlation-id")? {
            Some(raw) => Uuid::parse_str(raw).map_err(|_| ApiError::BadHeader {
                name: "X-Correlation-Id",
                message: "must be a UUID".into(),
            })?,
            None => Uuid::now_v7(),
        };
        let causation_id = text(parts, "x-request-id")?.and_then(|r| Uuid::parse_str(r).ok());
        // Authentication put it there; a route without it is refused rather
        // than run anonymously.
        let principal = parts
            .extensions
            .get::<Principal>()
            .cloned()
            .ok_or(ApiError::Unauthenticated)?;
        Ok(Self {
            idempotency_key,
            if_match,
            metadata: EventMetadata {
                correlation_id,
                causation_id,
                actor: Some(principal.actor()),
                // web::trace put a valid one on every request.
                trace_parent: text(parts, "traceparent")?.and_then(TraceParent::parse),
            },
            principal,
        })
    }
}

/// Collects field errors while turning raw input into domain values.
#[derive(Debug, Default)]
pub struct Fields(Vec<FieldError>);

impl Fields {
    /// Keeps the value, or records why `field` is invalid.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        value: Result<T, E>,
    ) -> Option<T> {
        value
            .map_err(|e| self.0.push(FieldError::new(field, e.to_string())))
            .ok()
    }

    /// Records an error.
    pub fn reject(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// Fails with every recorded error, if any.
    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::Validation(self.0))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_is_a_quoted_version_and_nothing_else() {
        assert_eq!(parse_if_match("\"3\""), Some(3));
        assert_eq!(parse_if_match("\"000000000000000042\""), Some(42));
        for refused in [
            "3",
            "",
            "\"\"",
            "\"-1\"",
            "\"+1\"",
            " \"3\"",
            "\"3",
            "W/\"3\"",
            "\"1000000000000000000\"",
        ] {
            assert_eq!(parse_if_match(refused), None, "{refused}");
        }
    }

    #[test]
    fn whole_numbers_written_as_floats_become_integers_and_fractions_stay() {
        let mut body = serde_json::json!({
            "amount": -4599.0,
            "lines": [{"quantity": 2.5e3}, {"quantity": 1.5}],
            "huge": 1e300,
            "name": "4599.0",
        });
        integral_numbers_as_integers(&mut body);
        assert_eq!(
            body,
            serde_json::json!({
                "amount": -4599,
                "lines": [{"quantity": 2500}, {"quantity": 1.5}],
                "huge": 1e300,
                "name": "4599.0",
            })
        );
        assert!(body["amount"].is_i64());
    }

    #[test]
    fn a_nul_is_found_with_the_path_of_its_field() {
        let body = serde_json::json!({
            "name": "fine",
            "lines": [{"sku": "A"}, {"sku": "B\u{0}"}],
        });
        assert_eq!(
            path_of_nul(&body, &mut String::new()).as_deref(),
            Some("lines[1].sku")
        );
        let key = serde_json::json!({"meta": {"a\u{0}": 1}});
        assert!(path_of_nul(&key, &mut String::new()).is_some());
        let clean = serde_json::json!({"name": "x", "n": 1, "l": [null, true]});
        assert_eq!(path_of_nul(&clean, &mut String::new()), None);
    }
}
