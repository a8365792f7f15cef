//! Integration tests: the real server on a loopback port, called over HTTP. One test binary so
//! the server is linked once.

mod auth;
mod harness;
mod roles;
mod users;
