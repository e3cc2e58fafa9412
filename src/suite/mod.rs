//! Suites: the declarative case files under `suites/`, their model and loading.
pub mod client_steps;
pub mod load;
pub mod model;
mod read;
pub mod standard;
pub mod steps;
pub mod validate;
pub mod vocabulary;

pub use load::{load_all, load_file, Case, SuiteError, Suites};
pub use model::{Layer, Level, Revision, Role, Transport};
pub use vocabulary::Steps;
