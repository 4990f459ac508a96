//! The console's one table of pages and what each needs, and the router
//! built from it: a page not in the table cannot be mounted, and each is
//! checked against the signed-in person's role (api.md's roles) before its
//! handler runs. Deny by default.

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::{header, HeaderValue, Method};
use axum::middleware::{from_fn, from_fn_with_state, Next};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{self, MethodRouter};
use axum::Router;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::trace::TraceLayer;
use web::access::{Permission, Role};

use crate::error::ConsoleError;
use crate::session::{self, SignedIn};
use crate::state::Console;
use crate::{login, pages};

/// What a page needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Nothing (signing in, the health probe).
    Anyone,
    /// Any signed-in person.
    SignedIn,
    /// A signed-in person whose role holds the permission.
    Holds(Permission),
}

/// One row of the table.
#[derive(Debug)]
pub struct PageRule {
    /// HTTP method.
    pub method: Method,
    /// Path template.
    pub path: &'static str,
    /// What it needs.
    pub need: Need,
}

const fn page(method: Method, path: &'static str, need: Need) -> PageRule {
    PageRule { method, path, need }
}

use Need::{Anyone, Holds};
use Permission as P;

/// Every page and form of the console and what it needs.
pub static PAGES: [PageRule; 33] = [
    page(Method::GET, "/healthz", Anyone),
    page(Method::GET, "/login", Anyone),
    page(Method::POST, "/login", Anyone),
    page(Method::POST, "/logout", Need::SignedIn),
    page(Method::GET, "/password", Need::SignedIn),
    page(Method::POST, "/password", Need::SignedIn),
    page(Method::GET, "/", Need::SignedIn),
    page(Method::GET, "/orders", Holds(P::OrdersRead)),
    page(Method::GET, "/orders/{id}", Holds(P::OrdersRead)),
    page(Method::POST, "/orders/{id}/ship", Holds(P::OrdersShip)),
    page(Method::POST, "/orders/{id}/cancel", Holds(P::OrdersCancel)),
    page(Method::POST, "/orders/{id}/refund", Holds(P::OrdersRefund)),
    page(
        Method::POST,
        "/orders/{id}/return-receipt",
        Holds(P::ReturnsReceive),
    ),
    page(Method::GET, "/holds", Holds(P::HoldsRead)),
    page(Method::POST, "/holds/{id}/release", Holds(P::HoldsWrite)),
    page(Method::GET, "/products", Holds(P::CatalogueRead)),
    page(Method::POST, "/products", Holds(P::ProductsWrite)),
    page(
        Method::POST,
        "/products/{sku}/price",
        Holds(P::ProductsWrite),
    ),
    page(
        Method::POST,
        "/products/{sku}/discontinue",
        Holds(P::ProductsWrite),
    ),
    page(Method::GET, "/stock", Holds(P::CatalogueRead)),
    page(Method::GET, "/stock/{sku}", Holds(P::StockHistoryRead)),
    page(Method::POST, "/stock/{sku}/receive", Holds(P::StockWrite)),
    page(Method::POST, "/stock/{sku}/adjust", Holds(P::StockWrite)),
    page(Method::POST, "/stock/{sku}/count", Holds(P::StockWrite)),
    page(Method::GET, "/locations", Holds(P::LocationsRead)),
    page(Method::POST, "/locations", Holds(P::LocationsWrite)),
    page(
        Method::POST,
        "/locations/{code}/deactivate",
        Holds(P::LocationsWrite),
    ),
    page(Method::GET, "/projections", Holds(P::OperationsRead)),
    page(
        Method::POST,
        "/projections/{name}/rebuild",
        Holds(P::OperationsWrite),
    ),
    page(
        Method::POST,
        "/projections/{name}/verify",
        Holds(P::OperationsWrite),
    ),
    page(Method::GET, "/parked", Holds(P::OperationsRead)),
    page(
        Method::POST,
        "/parked/{id}/retry",
        Holds(P::OperationsWrite),
    ),
    page(Method::GET, "/favicon.ico", Anyone),
];

/// Whether `role` may use the page `method path`; unknown pages: never.
pub fn allows(role: Role, method: &Method, path: &str) -> bool {
    PAGES
        .iter()
        .find(|p| p.method == method && p.path == path)
        .is_some_and(|p| match p.need {
            Anyone | Need::SignedIn => true,
            Holds(permission) => role.allows(permission),
        })
}

/// Routes mounted through the table.
struct Pages {
    router: Router<Console>,
}

impl Pages {
    fn mount(mut self, method: Method, path: &'static str, handler: MethodRouter<Console>) -> Self {
        let need = PAGES
            .iter()
            .find(|p| p.method == method && p.path == path)
            .unwrap_or_else(|| panic!("{method} {path} is not in the console's page table"))
            .need;
        let handler = match need {
            Anyone => handler,
            need => handler.route_layer(from_fn(move |request: Request, next: Next| {
                require(need, path, request, next)
            })),
        };
        self.router = self.router.route(path, handler);
        self
    }

    fn get<H: Handler<T, Console>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.mount(Method::GET, path, routing::get(handler))
    }

    fn post<H: Handler<T, Console>, T: 'static>(self, path: &'static str, handler: H) -> Self {
        self.mount(Method::POST, path, routing::post(handler))
    }
}

/// Pages someone who must change their password may still use.
const WHILE_CHANGING_PASSWORD: [&str; 2] = ["/password", "/logout"];

/// Lets the request through when the signed-in person meets `need`; sends
/// everyone else to sign in, and someone whose password was made for them
/// to choose their own before anything else.
async fn require(need: Need, path: &'static str, request: Request, next: Next) -> Response {
    let Some(who) = request.extensions().get::<SignedIn>() else {
        return Redirect::to("/login").into_response();
    };
    if who.must_change_password && !WHILE_CHANGING_PASSWORD.contains(&path) {
        return Redirect::to("/password").into_response();
    }
    if let Holds(permission) = need {
        if !who.role.allows(permission) {
            return ConsoleError::Forbidden(permission.as_str()).into_response();
        }
    }
    next.run(request).await
}

/// The console: every page of the table, sessions, and headers that keep
/// pages out of frames, caches and other sites' reach.
pub fn router(console: Console) -> Router {
    let pages = Pages {
        router: Router::new(),
    }
    .get("/healthz", || async { "ok" })
    .get("/favicon.ico", || async {
        axum::http::StatusCode::NO_CONTENT
    })
    .get("/login", login::form)
    .post("/login", login::submit)
    .post("/logout", login::sign_out)
    .get("/password", pages::password::form)
    .post("/password", pages::password::change)
    .get("/", pages::dashboard::show)
    .get("/orders", pages::orders::list)
    .get("/orders/{id}", pages::orders::show)
    .post("/orders/{id}/ship", pages::orders::ship)
    .post("/orders/{id}/cancel", pages::orders::cancel)
    .post("/orders/{id}/refund", pages::aftersales::refund)
    .post("/orders/{id}/return-receipt", pages::aftersales::receive)
    .get("/holds", pages::holds::list)
    .post("/holds/{id}/release", pages::holds::release)
    .get("/products", pages::products::list)
    .post("/products", pages::products::register)
    .post("/products/{sku}/price", pages::products::change_price)
    .post("/products/{sku}/discontinue", pages::products::discontinue)
    .get("/stock", pages::stock::list)
    .get("/stock/{sku}", pages::stock::show)
    .post("/stock/{sku}/receive", pages::stock::receive)
    .post("/stock/{sku}/adjust", pages::stock::adjust)
    .post("/stock/{sku}/count", pages::stock::count)
    .get("/locations", pages::locations::list)
    .post("/locations", pages::locations::register)
    .post("/locations/{code}/deactivate", pages::locations::deactivate)
    .get("/projections", pages::projections::show)
    .post("/projections/{name}/rebuild", pages::projections::rebuild)
    .post("/projections/{name}/verify", pages::projections::verify)
    .get("/parked", pages::parked::list)
    .post("/parked/{id}/retry", pages::parked::retry);
    let limits = console.settings.http;
    let pages = pages
        .router
        .layer(from_fn_with_state(console.clone(), session::load));
    web::layers::time_limits(pages, &limits)
        .layer(SetResponseHeaderLayer::overriding(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(
                "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; \
                 form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
            ),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::CACHE_CONTROL,
            HeaderValue::from_static("no-store"),
        ))
        .layer(web::panic::catch_panics())
        .layer(TraceLayer::new_for_http())
        .with_state(console)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_reach_only_the_pages_api_md_allows_them() {
        assert!(allows(Role::Staff, &Method::POST, "/products"));
        assert!(allows(Role::Staff, &Method::POST, "/orders/{id}/cancel"));
        assert!(!allows(Role::Staff, &Method::GET, "/projections"));
        assert!(allows(Role::Operator, &Method::GET, "/projections"));
        assert!(!allows(
            Role::Operator,
            &Method::POST,
            "/projections/{name}/rebuild"
        ));
        assert!(!allows(
            Role::Operator,
            &Method::POST,
            "/stock/{sku}/receive"
        ));
        assert!(allows(Role::Admin, &Method::POST, "/parked/{id}/retry"));
        assert!(allows(Role::Staff, &Method::POST, "/locations"));
        assert!(allows(Role::Warehouse, &Method::GET, "/locations"));
        assert!(!allows(Role::Warehouse, &Method::POST, "/locations"));
        assert!(!allows(
            Role::Warehouse,
            &Method::POST,
            "/locations/{code}/deactivate"
        ));
        assert!(allows(Role::Warehouse, &Method::POST, "/stock/{sku}/count"));
        assert!(!allows(Role::Analyst, &Method::GET, "/locations"));
        assert!(
            !allows(Role::Admin, &Method::DELETE, "/products"),
            "not in the table"
        );
    }
}
