//! Integration tests: the real server on a loopback port, called over HTTP. One test binary so
//! the server is linked once.

mod auth;
mod chart;
mod config;
mod crash;
mod deploy;
mod fixtures;
mod harness;
mod helm;
mod helm_registries;
mod metrics;
mod namespaces;
mod policy;
mod process;
mod projects;
mod registries;
mod rest;
mod roles;
mod scheduler;
mod sso;
mod tags;
mod upgrade;
mod users;
