//! The query API's routes, merged in one place, and the one table of what
//! each needs.

mod analytics;
mod event_stream;
mod events;
pub mod history;
mod holds;
mod locations;
mod next_link;
mod orders;
mod page;
mod products;
mod projections;
mod returns;

pub use event_stream::EventStreams;

/// The reads, callable without HTTP (the console shows them to signed-in
/// people), with the views the routes answer.
pub mod reads {
    pub use super::analytics::{summarize, Revenue, Summary};
    pub use super::history::{movements, order_events, HistoryEntry, Movement};
    pub use super::holds::{find_hold, HoldView};
    pub use super::locations::LocationView;
    pub use super::orders::{decode_cursor, find_order, find_orders, OrderFilter, OrderView};
    pub use super::page::Page;
    pub use super::products::{
        find_products, find_stock, find_stock_detail, LocationStockView, ProductView, StockDetail,
        StockView,
    };
    pub use super::projections::{projection_status, ProjectionView};
    pub use super::returns::{find_return, ReturnLineView, ReturnView};
}

use axum::http::Method;
use axum::Router;
use web::access::{rule, Access, Permission, RouteRule};
use web::layers::HttpLimits;
use web::SecureRouter;

use crate::AppState;

/// Every route of the query API and what it needs (api.md, Access v1.1).
/// A route missing here cannot be mounted.
pub static ACCESS: [RouteRule; 27] = [
    rule(
        Method::GET,
        "/v1/orders",
        Access::Requires(Permission::OrdersRead),
    ),
    rule(
        Method::GET,
        "/v1/orders/{id}",
        Access::Requires(Permission::OrdersRead),
    ),
    rule(
        Method::GET,
        "/v1/orders/{id}/history",
        Access::Requires(Permission::OrdersRead),
    ),
    rule(
        Method::GET,
        "/v1/returns/{id}",
        Access::Requires(Permission::OrdersRead),
    ),
    rule(
        Method::GET,
        "/v1/holds/{id}",
        Access::Requires(Permission::HoldsRead),
    ),
    rule(
        Method::GET,
        "/v1/stock/{sku}/movements",
        Access::Requires(Permission::StockHistoryRead),
    ),
    rule(
        Method::GET,
        "/v1/products",
        Access::Requires(Permission::CatalogueRead),
    ),
    rule(
        Method::GET,
        "/v1/products/{sku}",
        Access::Requires(Permission::CatalogueRead),
    ),
    rule(
        Method::GET,
        "/v1/stock",
        Access::Requires(Permission::CatalogueRead),
    ),
    rule(
        Method::GET,
        "/v1/stock/{sku}",
        Access::Requires(Permission::CatalogueRead),
    ),
    rule(
        Method::GET,
        "/v1/analytics/sales/daily",
        Access::Requires(Permission::AnalyticsRead),
    ),
    rule(
        Method::GET,
        "/v1/analytics/top-products",
        Access::Requires(Permission::AnalyticsRead),
    ),
    rule(
        Method::GET,
        "/v1/analytics/summary",
        Access::Requires(Permission::AnalyticsRead),
    ),
    rule(
        Method::GET,
        "/v1/projections",
        Access::Requires(Permission::OperationsRead),
    ),
    rule(
        Method::GET,
        "/v1/events",
        Access::Requires(Permission::EventsRead),
    ),
    rule(
        Method::GET,
        "/v1/events/stream",
        Access::Requires(Permission::EventsRead),
    ),
    rule(
        Method::GET,
        "/v1/streams/{stream_id}",
        Access::Requires(Permission::EventsRead),
    ),
    rule(
        Method::GET,
        "/v1/locations",
        Access::Requires(Permission::LocationsRead),
    ),
    rule(
        Method::GET,
        "/v1/locations/{code}",
        Access::Requires(Permission::LocationsRead),
    ),
    web::probes::HEALTHZ,
    web::probes::READYZ,
    web::probes::METRICS,
    web::openapi::RULE,
    web::docs::PAGE,
    web::docs::SCRIPT,
    web::docs::STYLE,
    web::docs::INIT,
];

/// The whole query API.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let mut routes = SecureRouter::new(&ACCESS);
    routes = orders::routes(routes);
    routes = history::routes(routes);
    routes = returns::routes(routes);
    routes = holds::routes(routes);
    routes = products::routes(routes);
    routes = locations::routes(routes);
    routes = analytics::routes(routes);
    routes = projections::routes(routes);
    routes = events::routes(routes);
    routes = event_stream::routes(routes);
    routes = web::probes::routes(routes, web::probes::NoRefresh);
    routes = web::docs::routes(routes);
    routes = routes.openapi("Stockroom query API");
    let authenticator = state.authenticator.clone();
    routes.build(state, limits, authenticator)
}
