//! One module per table.

pub mod activity;
pub mod docker_registry;
pub mod session;
pub mod user;
