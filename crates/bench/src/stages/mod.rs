//! The five stages, each measured beside its raw baseline.

mod end_to_end;
mod pipeline;
mod place_order;
mod query;

pub use end_to_end::end_to_end;
pub use pipeline::relay_and_projector;
pub use place_order::place_order;
pub use query::query;
