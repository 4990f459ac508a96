//! The products this process has read, kept so that placing an order needs
//! no read of its own: the order's append lands only if the catalogue is
//! still at the version the products were read at
//! (`store::append_streams_priced_at`), so a stale copy costs one retry,
//! never a wrongly priced order.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use domain::product::Product;
use sqlx::PgPool;
use store::{CatalogueVersion, Loaded, StoreError};

/// Products kept at most; past this the copy starts over (a shop's whole
/// catalogue fits many times over, and a refill is one read per order).
const MAX_PRODUCTS: usize = 100_000;

/// Registered products by SKU, all as of one catalogue version.
#[derive(Clone, Default)]
pub struct Catalogue {
    kept: Arc<RwLock<Kept>>,
}

#[derive(Default)]
struct Kept {
    /// The version every product below was read at (none: nothing kept).
    version: Option<CatalogueVersion>,
    products: HashMap<String, Loaded<Product>>,
}

/// Products for one order, with the catalogue version they were read at.
pub struct Priced {
    /// The registered ones among the SKUs asked for.
    pub products: HashMap<String, Loaded<Product>>,
    /// The version an append decided on them must find.
    pub version: CatalogueVersion,
}

impl Catalogue {
    /// The products of `skus`; reads them (after the catalogue's version)
    /// unless every one is kept. Unregistered SKUs are missing from the
    /// answer and never kept, so registering one is seen at once.
    pub async fn products(&self, pool: &PgPool, skus: &[&str]) -> Result<Priced, StoreError> {
        if let Some(kept) = self.kept_only(skus) {
            return Ok(kept);
        }
        let mut conn = pool.acquire().await?;
        // The version first: a product changed after it was read is then
        // caught by the append, never kept under a version that hides it.
        let version = store::catalogue_version(&mut conn).await?;
        let read = store::load_many::<Product>(&mut conn, skus).await?;
        drop(conn);
        let products: HashMap<_, _> = read
            .into_iter()
            .filter(|(_, product)| product.state.registered().is_some())
            .collect();
        let mut kept = self.kept.write().unwrap_or_else(|e| e.into_inner());
        if kept.version.is_none_or(|current| current < version)
            || kept.products.len() + products.len() > MAX_PRODUCTS
        {
            kept.products.clear();
            kept.version = Some(version);
        }
        if kept.version == Some(version) {
            kept.products.extend(products.clone());
        }
        Ok(Priced { products, version })
    }

    /// Forgets every product kept, after an append found the catalogue
    /// changed (or this process changed a product).
    pub fn forget(&self) {
        let mut kept = self.kept.write().unwrap_or_else(|e| e.into_inner());
        kept.products.clear();
        kept.version = None;
    }

    fn kept_only(&self, skus: &[&str]) -> Option<Priced> {
        let kept = self.kept.read().unwrap_or_else(|e| e.into_inner());
        let version = kept.version?;
        let products = skus
            .iter()
            .map(|sku| Some(((*sku).to_owned(), kept.products.get(*sku)?.clone())))
            .collect::<Option<HashMap<_, _>>>()?;
        Some(Priced { products, version })
    }
}
