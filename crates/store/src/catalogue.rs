//! The catalogue's version: a counter every product event bumps in the
//! transaction that appends it (migration `catalogue_version`), so products
//! read at one version can be relied on by an append that checks it.

use sqlx::PgConnection;

use crate::StoreError;

/// How many product events the catalogue has seen; it only grows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct CatalogueVersion(pub i64);

/// The catalogue's current version; read it before the products it covers.
pub async fn catalogue_version(conn: &mut PgConnection) -> Result<CatalogueVersion, StoreError> {
    let version: i64 = sqlx::query_scalar("SELECT version FROM catalogue_version")
        .fetch_one(conn)
        .await?;
    Ok(CatalogueVersion(version))
}
