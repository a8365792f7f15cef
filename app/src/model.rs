//! Typed models shared by the browser and the server. Serde only: database and Kubernetes
//! conversions live in the server crate.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};

/// A user's role. Ordered by power: every role may do what the roles below it may.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Role {
    /// Views, deploys, stops, switches dashboard select variables.
    Viewer,
    /// Also creates and edits projects.
    Doer,
    /// Also manages users, registries and namespaces.
    Admin,
}

impl Role {
    /// All roles, weakest first.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Doer, Role::Admin];

    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "VIEWER",
            Role::Doer => "DOER",
            Role::Admin => "ADMIN",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Role {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "VIEWER" => Ok(Role::Viewer),
            "DOER" => Ok(Role::Doer),
            "ADMIN" => Ok(Role::Admin),
            other => Err(format!("unknown role '{other}' (expected VIEWER, DOER or ADMIN)")),
        }
    }
}

/// Primary key of a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct UserId(pub i64);

/// A user as administrators see it. Never carries the password hash.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct User {
    pub id: UserId,
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    pub role: Role,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The logged-in user, as every page sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub display_name: Option<String>,
    pub role: Role,
}

impl CurrentUser {
    /// Whether this user holds at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// The name to greet the user with.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.username)
    }
}

/// What an administrator enters to create a user. The role arrives as text so that an unknown
/// role is a field error, not an undecodable request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewUser {
    pub username: String,
    pub display_name: String,
    pub email: String,
    pub role: String,
    pub password: String,
}

/// An administrator's edit of a user's profile and role.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct UserUpdate {
    pub id: UserId,
    pub display_name: String,
    pub email: String,
    pub role: String,
}
