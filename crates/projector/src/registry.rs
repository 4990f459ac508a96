//! The one list of projections. Everything that needs "every projection" or
//! "the projection called N" (the projector process, rebuild, verify, parked
//! retries, the position rows) goes through here.

use std::future::Future;
use std::pin::Pin;

use crate::catalogue::CatalogueProjection;
use crate::orders::OrdersProjection;
use crate::sales::SalesProjection;
use crate::Projection;

/// A boxed future, the output of most visitors.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// Something to do with one projection, whichever type it is.
pub trait Visitor {
    /// What the visit returns.
    type Output;
    /// Does it with `projection`.
    fn visit<P: Projection>(self, projection: P) -> Self::Output;
}

macro_rules! registry {
    ($($projection:ident),+ $(,)?) => {
        /// Names of every projection, in the order they are started.
        pub const NAMES: &[&str] = &[$(<$projection as Projection>::NAME),+];

        /// Visits the projection called `name`; `None` if there is none.
        pub fn visit<V: Visitor>(name: &str, visitor: V) -> Option<V::Output> {
            $(
                if name == <$projection as Projection>::NAME {
                    return Some(visitor.visit($projection));
                }
            )+
            None
        }
    };
}

registry!(OrdersProjection, CatalogueProjection, SalesProjection);

/// The names of `only`'s projections, or all of them when `only` is empty;
/// an unknown name is an error naming the known ones.
pub fn select(only: &[String]) -> Result<Vec<&'static str>, String> {
    if only.is_empty() {
        return Ok(NAMES.to_vec());
    }
    only.iter()
        .map(|wanted| {
            NAMES.iter().find(|n| *n == wanted).copied().ok_or_else(|| {
                format!(
                    "unknown projection {wanted:?} (known: {})",
                    NAMES.join(", ")
                )
            })
        })
        .collect()
}

/// Rebuilds the projection called `name`; `None` if there is none.
pub async fn rebuild_named(
    pool: &sqlx::PgPool,
    name: &str,
    progress: &dyn crate::rebuild::Progress,
) -> Option<Result<crate::rebuild::RebuildReport, crate::rebuild::RebuildError>> {
    struct Rebuild<'a>(&'a sqlx::PgPool, &'a dyn crate::rebuild::Progress);
    impl<'a> Visitor for Rebuild<'a> {
        type Output =
            BoxFuture<'a, Result<crate::rebuild::RebuildReport, crate::rebuild::RebuildError>>;
        fn visit<P: Projection>(self, projection: P) -> Self::Output {
            Box::pin(async move { crate::rebuild::rebuild(self.0, &projection, self.1).await })
        }
    }
    Some(visit(name, Rebuild(pool, progress))?.await)
}

/// Verifies the projection called `name`; `None` if there is none.
pub async fn verify_named(
    pool: &sqlx::PgPool,
    name: &str,
) -> Option<Result<crate::verify::Verification, crate::rebuild::RebuildError>> {
    struct Verify<'a>(&'a sqlx::PgPool);
    impl<'a> Visitor for Verify<'a> {
        type Output =
            BoxFuture<'a, Result<crate::verify::Verification, crate::rebuild::RebuildError>>;
        fn visit<P: Projection>(self, projection: P) -> Self::Output {
            Box::pin(async move { crate::verify::verify(self.0, &projection).await })
        }
    }
    Some(visit(name, Verify(pool))?.await)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Name;
    impl Visitor for Name {
        type Output = &'static str;
        fn visit<P: Projection>(self, _: P) -> &'static str {
            P::NAME
        }
    }

    #[test]
    fn every_name_visits_its_own_projection() {
        for name in NAMES {
            assert_eq!(visit(name, Name), Some(*name));
        }
        assert_eq!(visit("nope", Name), None);
    }

    #[test]
    fn select_names_unknown_projections() {
        assert_eq!(select(&[]).unwrap(), NAMES.to_vec());
        assert_eq!(select(&["sales".into()]).unwrap(), vec!["sales"]);
        let err = select(&["nope".into()]).unwrap_err();
        assert!(err.contains("nope") && err.contains("orders"), "{err}");
    }
}
