//! One module per table.

pub mod session;
pub mod user;
