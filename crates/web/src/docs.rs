//! `GET /docs`: the API's document as an interactive page (Swagger UI).
//! Every file is served from inside the binary: Swagger UI's own from the
//! `swagger-ui-dist` crate, which embeds them, and the page and its start-up
//! script from `assets/docs/`. Nothing is fetched from anywhere, and the
//! page's Content-Security-Policy lets it reach this origin only. Public,
//! like `/openapi.json`, which is all it shows; "Try it out" sends the key a
//! person types into "Authorize" to this API, as any client would.

use std::sync::LazyLock;

use axum::body::Body;
use axum::http::{header, HeaderValue, Method, Request, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Router;
use swagger_ui_dist::{ApiDefinition, OpenApiSource};
use tower::ServiceExt;

use crate::access::{rule, Access, RouteRule};
use crate::openapi::Operation;
use crate::{Problem, SecureRouter};

// Each file has a route of its own: authentication lets public paths
// through by their exact path, before any routing.

/// The page's route row: anyone may read it.
pub const PAGE: RouteRule = rule(Method::GET, "/docs", Access::Public);

/// Swagger UI's script.
pub const SCRIPT: RouteRule = rule(Method::GET, "/docs/swagger-ui-bundle.js", Access::Public);

/// Swagger UI's style sheet.
pub const STYLE: RouteRule = rule(Method::GET, "/docs/swagger-ui.css", Access::Public);

/// The script that starts Swagger UI on this API's document.
pub const INIT: RouteRule = rule(Method::GET, "/docs/init.js", Access::Public);

/// Same origin only; inline styles because Swagger UI sets some.
const POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data:; connect-src 'self'; form-action 'none'; frame-ancestors 'none'; \
     base-uri 'none'";

const INDEX: &str = include_str!("../assets/docs/index.html");
const INIT_JS: &str = include_str!("../assets/docs/init.js");

/// Where the embedded router keeps Swagger UI's files.
const EMBEDDED: &str = "/swagger-ui";

/// The `swagger-ui-dist` crate's own router, asked for its files by path.
static SWAGGER_UI: LazyLock<Router> = LazyLock::new(|| {
    swagger_ui_dist::generate_routes(ApiDefinition {
        uri_prefix: EMBEDDED,
        api_definition: OpenApiSource::Uri("openapi.json"),
        title: None,
    })
});

/// Mounts `/docs` and its files on `router` (whose table must carry
/// [`PAGE`], [`SCRIPT`], [`STYLE`] and [`INIT`]).
pub fn routes<S: Clone + Send + Sync + 'static>(router: SecureRouter<S>) -> SecureRouter<S> {
    let file = |what| {
        Operation::new("a file of the interactive page").answers_text(200, what, "text/javascript")
    };
    router
        .get(
            PAGE.path,
            || async { secured(INDEX.into(), "text/html; charset=utf-8") },
            Operation::new("this document as an interactive page").answers_text(
                200,
                "the page",
                "text/html",
            ),
        )
        .get(
            SCRIPT.path,
            || embedded("swagger-ui-bundle.js", "text/javascript"),
            file("Swagger UI"),
        )
        .get(
            STYLE.path,
            || embedded("swagger-ui.css", "text/css"),
            Operation::new("a file of the interactive page").answers_text(
                200,
                "Swagger UI's style sheet",
                "text/css",
            ),
        )
        .get(
            INIT.path,
            || async { secured(INIT_JS.into(), "text/javascript") },
            file("the script that starts Swagger UI on this API's document"),
        )
}

async fn embedded(file: &str, media_type: &'static str) -> Response {
    let request = Request::get(format!("{EMBEDDED}/{file}"))
        .body(Body::empty())
        .unwrap_or_default();
    let Ok(answer) = SWAGGER_UI.clone().oneshot(request).await;
    if answer.status() != StatusCode::OK {
        tracing::error!(file, status = %answer.status(), "the embedded Swagger UI lacks a file");
        return Problem::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "the page's file is missing",
        )
        .into_response();
    }
    secured(answer.into_body(), media_type)
}

fn secured(body: Body, media_type: &'static str) -> Response {
    let mut response = Response::new(body);
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(media_type));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    // The files change only with the binary; an hour keeps reloads cheap.
    headers.insert(
        header::CACHE_CONTROL,
        HeaderValue::from_static("public, max-age=3600"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::to_bytes;
    use tower::ServiceExt;

    #[tokio::test]
    async fn the_page_and_its_files_come_from_the_binary_under_a_same_origin_policy() {
        static TABLE: [RouteRule; 4] = [PAGE, SCRIPT, STYLE, INIT];
        let app = routes(SecureRouter::<()>::new(&TABLE)).into_router();
        let get = |path: &str| {
            app.clone()
                .oneshot(Request::get(path).body(Body::empty()).unwrap())
        };
        let page = get(PAGE.path).await.unwrap();
        assert_eq!(page.headers()[header::CONTENT_SECURITY_POLICY], POLICY);
        let html = to_bytes(page.into_body(), usize::MAX).await.unwrap();
        let html = std::str::from_utf8(&html).unwrap();
        assert!(!html.contains("http"), "the page names no other origin");
        for (rule, media_type, at_least) in [
            (SCRIPT, "text/javascript", 100_000),
            (STYLE, "text/css", 10_000),
            (INIT, "text/javascript", 100),
        ] {
            let relative = rule.path.trim_start_matches('/');
            assert!(html.contains(relative), "the page loads {relative}");
            let answer = get(rule.path).await.unwrap();
            assert_eq!(answer.status(), StatusCode::OK, "{}", rule.path);
            assert_eq!(answer.headers()[header::CONTENT_TYPE], media_type);
            assert_eq!(answer.headers()[header::CONTENT_SECURITY_POLICY], POLICY);
            let body = to_bytes(answer.into_body(), usize::MAX).await.unwrap();
            assert!(
                body.len() >= at_least,
                "{} is {} bytes",
                rule.path,
                body.len()
            );
        }
    }
}
