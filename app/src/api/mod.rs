//! Server functions: the internal API. One file per resource. Every function's first step is
//! `ssr::authorize` (or an explicit "public" note), and `server/tests/api/roles.rs` holds the
//! role each one requires.

pub mod activity;
pub mod auth;
pub mod deployments;
pub mod helm;
pub mod namespaces;
pub mod projects;
pub mod registries;
pub mod tokens;
pub mod users;
