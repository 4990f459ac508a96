//! The query API's routes, merged in one place.

mod analytics;
mod orders;
mod page;
mod products;
mod projections;

use axum::Router;
use web::layers::{apply, HttpLimits};

use crate::AppState;

/// The whole query API.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let routes = Router::new()
        .merge(orders::routes())
        .merge(products::routes())
        .merge(analytics::routes())
        .merge(projections::routes())
        .merge(web::probes::routes(web::probes::NoRefresh))
        .with_state(state);
    apply(routes, limits)
}
