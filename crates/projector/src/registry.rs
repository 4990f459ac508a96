//! Every projection by name, for the tools that take a name.

use sqlx::PgPool;

use crate::catalogue::CatalogueProjection;
use crate::orders::OrdersProjection;
use crate::rebuild::{rebuild, Progress, RebuildError, RebuildReport};
use crate::sales::SalesProjection;
use crate::verify::{verify, Verification};

/// Names of every projection.
pub const NAMES: [&str; 3] = ["orders", "catalogue", "sales"];

/// Rebuilds the projection called `name`; `None` if there is none.
pub async fn rebuild_named(
    pool: &PgPool,
    name: &str,
    progress: &dyn Progress,
) -> Option<Result<RebuildReport, RebuildError>> {
    Some(match name {
        "orders" => rebuild(pool, &OrdersProjection, progress).await,
        "catalogue" => rebuild(pool, &CatalogueProjection, progress).await,
        "sales" => rebuild(pool, &SalesProjection, progress).await,
        _ => return None,
    })
}

/// Verifies the projection called `name`; `None` if there is none.
pub async fn verify_named(pool: &PgPool, name: &str) -> Option<Result<Verification, RebuildError>> {
    Some(match name {
        "orders" => verify(pool, &OrdersProjection).await,
        "catalogue" => verify(pool, &CatalogueProjection).await,
        "sales" => verify(pool, &SalesProjection).await,
        _ => return None,
    })
}
