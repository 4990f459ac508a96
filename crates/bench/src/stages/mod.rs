//! The stages, each measured beside its raw baseline.

mod end_to_end;
mod feed;
mod history;
mod holds;
mod locations;
mod pipeline;
mod place_order;
mod query;
mod scale;

pub use end_to_end::{
    end_to_end, highest_rate, one_primary, ramp, steady_load, steady_load_of, Catalogue, Measured,
    Ramp, Targets,
};
pub use feed::{event_streams, feed};
pub use history::history;
pub use holds::holds;
pub use locations::locations;
pub use pipeline::relay_and_projector;
pub use place_order::place_order;
pub use query::query;
pub use scale::scale;
