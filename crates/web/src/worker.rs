//! What a worker process serves beside its work: `/metrics` for operators,
//! `/healthz` and `/readyz` for anyone, behind the same keys as the APIs.

use axum::Router;

use crate::access::RouteRule;
use crate::auth::Authenticator;
use crate::layers::HttpLimits;
use crate::probes::{self, NoRefresh, Probes};
use crate::SecureRouter;

/// The routes of a worker's endpoint and what each needs.
pub static ACCESS: [RouteRule; 3] = [probes::HEALTHZ, probes::READYZ, probes::METRICS];

/// A worker's endpoint.
pub fn router(probes: Probes, authenticator: Authenticator, limits: HttpLimits) -> Router {
    probes::routes(SecureRouter::new(&ACCESS), NoRefresh).build(probes, limits, authenticator)
}
