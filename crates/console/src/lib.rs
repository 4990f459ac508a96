//! The management console: server-rendered pages behind a sign-in where
//! staff run the shop's stock and orders, and operators watch the pipeline.
//! Every change goes through the command API's own command code with the
//! signed-in person as the actor (`user:<id>`); every page reads through the
//! query API's read code. Roles allow exactly what api.md allows them.

mod access;
mod chart;
mod client;
mod common_passwords;
mod error;
mod forms;
mod gate;
mod jobs;
mod login;
mod pages;
pub mod password;
mod session;
mod settings;
mod state;
mod throttle;
mod view;

pub use access::router;
pub use settings::{ConsoleSettings, DEFAULT_ADDR};
pub use state::Console;
