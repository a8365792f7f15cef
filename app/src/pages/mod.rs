//! Route components.

pub mod account;
pub mod activity;
pub mod admin_helm;
pub mod admin_namespaces;
pub mod admin_registries;
pub mod admin_users;
pub mod configuration;
pub mod dashboard;
pub mod deployment;
pub mod export;
pub mod login;
pub mod policy;
pub mod projects;
pub mod tokens;
pub mod version;
