//! The query API's routes, merged in one place.

mod orders;
mod probes;
mod products;

use axum::Router;
use web::layers::{apply, HttpLimits};

use crate::AppState;

/// The whole query API.
pub fn router(state: AppState, limits: HttpLimits) -> Router {
    let routes = Router::new()
        .merge(orders::routes())
        .merge(products::routes())
        .merge(probes::routes())
        .with_state(state);
    apply(routes, limits)
}
