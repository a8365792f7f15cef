//! Server functions: the internal API. One file per resource. Every function's first step is
//! `ssr::authorize` (or an explicit "public" note), and `tests/roles.rs` in the server crate holds the
//! role each one requires.

pub mod auth;
pub mod users;
