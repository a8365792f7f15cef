//! Route components.

pub mod account;
pub mod admin_users;
pub mod login;
pub mod placeholder;
