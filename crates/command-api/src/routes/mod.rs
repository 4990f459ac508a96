//! The command API's routes, merged in one place, and the one table of what
//! each needs.

mod answers;
mod bounds;
mod hold_orders;
mod holds;
mod lines;
mod locations;
mod orders;
mod probes;
mod products;
mod refunds;
mod returns;
mod simple;
mod stock;

/// The commands, callable without HTTP (the console runs them for signed-in
/// people), each with the body type its route takes.
pub mod commands {
    pub use super::answers::{
        OrderAnswer, PlacedAnswer, ProductAnswer, RefundAnswer, ReturnAnswer, StockAnswer,
    };
    pub use super::holds::{
        place_hold_command, release_hold_command, HoldAnswer, HoldBody, ReleaseBody,
    };
    pub use super::locations::{
        deactivate_location_command, register_location_command, DeactivationBody, LocationBody,
    };
    pub use super::orders::{
        cancel_command, pay_command, place_command, ship_command, CancellationBody, LineBody,
        PaymentBody, PlaceBody, ShipmentBody, ShipmentLineBody,
    };
    pub use super::products::{
        change_price_command, discontinue_command, register_command, PriceBody, RegisterBody,
    };
    pub use super::refunds::{refund_command, RefundBody};
    pub use super::returns::{
        receive_return_command, request_return_command, ReceiptBody as ReturnReceiptBody,
        ReceiptLineBody as ReturnReceiptLineBody, ReturnBody, ReturnLineBody,
    };
    pub use super::stock::{
        adjust_command, count_command, receive_command, AdjustmentBody, CountBody, ReceiptBody,
    };
}

use axum::http::Method;
use axum::Router;
use web::access::{rule, Access, Permission, RouteRule};
use web::layers::HttpLimits;
use web::SecureRouter;

use crate::AppState;

/// Every route of the command API and what it needs (api.md, Access v1.1).
/// A route missing here cannot be mounted.
pub static ACCESS: [RouteRule; 27] = [
    rule(
        Method::POST,
        "/v1/products",
        Access::Requires(Permission::ProductsWrite),
    ),
    rule(
        Method::PUT,
        "/v1/products/{sku}/price",
        Access::Requires(Permission::ProductsWrite),
    ),
    rule(
        Method::POST,
        "/v1/products/{sku}/discontinue",
        Access::Requires(Permission::ProductsWrite),
    ),
    rule(
        Method::POST,
        "/v1/stock/{sku}/receipts",
        Access::Requires(Permission::StockWrite),
    ),
    rule(
        Method::POST,
        "/v1/stock/{sku}/adjustments",
        Access::Requires(Permission::StockWrite),
    ),
    rule(
        Method::POST,
        "/v1/stock/{sku}/counts",
        Access::Requires(Permission::StockWrite),
    ),
    rule(
        Method::POST,
        "/v1/locations",
        Access::Requires(Permission::LocationsWrite),
    ),
    rule(
        Method::POST,
        "/v1/locations/{code}/deactivate",
        Access::Requires(Permission::LocationsWrite),
    ),
    rule(
        Method::POST,
        "/v1/orders",
        Access::Requires(Permission::OrdersPlace),
    ),
    rule(
        Method::POST,
        "/v1/holds",
        Access::Requires(Permission::HoldsWrite),
    ),
    rule(
        Method::PUT,
        "/v1/holds/{id}",
        Access::Requires(Permission::HoldsWrite),
    ),
    rule(
        Method::POST,
        "/v1/holds/{id}/extensions",
        Access::Requires(Permission::HoldsWrite),
    ),
    rule(
        Method::POST,
        "/v1/holds/{id}/releases",
        Access::Requires(Permission::HoldsWrite),
    ),
    rule(
        Method::POST,
        "/v1/orders/{id}/payments",
        Access::Requires(Permission::OrdersPay),
    ),
    rule(
        Method::POST,
        "/v1/orders/{id}/shipments",
        Access::Requires(Permission::OrdersShip),
    ),
    rule(
        Method::POST,
        "/v1/orders/{id}/cancellations",
        Access::Requires(Permission::OrdersCancel),
    ),
    rule(
        Method::POST,
        "/v1/orders/{id}/returns",
        Access::Requires(Permission::ReturnsRequest),
    ),
    rule(
        Method::POST,
        "/v1/returns/{id}/receipts",
        Access::Requires(Permission::ReturnsReceive),
    ),
    rule(
        Method::POST,
        "/v1/orders/{id}/refunds",
        Access::Requires(Permission::OrdersRefund),
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

/// The whole command API.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    metrics::counter!("stockroom_command_conflicts_retried_total").increment(0);
    let mut routes = SecureRouter::new(&ACCESS);
    routes = products::routes(routes);
    routes = stock::routes(routes);
    routes = locations::routes(routes);
    routes = orders::routes(routes);
    routes = holds::routes(routes);
    routes = returns::routes(routes);
    routes = refunds::routes(routes);
    routes = self::probes::routes(routes, state.pool.clone());
    routes = web::docs::routes(routes);
    routes = routes.openapi("Stockroom command API");
    let authenticator = state.authenticator.clone();
    routes.build(state, limits, authenticator)
}
