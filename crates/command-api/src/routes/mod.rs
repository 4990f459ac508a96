//! The command API's routes, merged in one place.

mod orders;
mod probes;
mod products;
mod simple;
mod stock;

use axum::Router;
use web::layers::{apply, HttpLimits};

use crate::AppState;

/// The whole command API.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let routes = Router::new()
        .merge(products::routes())
        .merge(stock::routes())
        .merge(orders::routes())
        .merge(probes::routes(state.pool.clone()))
        .with_state(state);
    apply(routes, limits)
}
