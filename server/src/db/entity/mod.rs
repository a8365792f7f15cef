//! One module per table.

pub mod activity;
pub mod api_token;
pub mod deployment;
pub mod docker_registry;
pub mod helm_registry;
pub mod lease;
pub mod namespace;
pub mod project;
pub mod project_version;
pub mod session;
pub mod user;
