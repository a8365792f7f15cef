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

/// Primary key of a Docker registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct DockerRegistryId(pub i64);

/// How O-Neko authenticates to a Docker registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RegistryAuth {
    /// No credentials (public images).
    Anonymous,
    /// Username and password (Basic, or exchanged for a Bearer token).
    Basic,
    /// A static Bearer token.
    Token,
}

impl RegistryAuth {
    /// The stored and form value.
    pub fn as_str(self) -> &'static str {
        match self {
            RegistryAuth::Anonymous => "anonymous",
            RegistryAuth::Basic => "basic",
            RegistryAuth::Token => "token",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            RegistryAuth::Anonymous => "Anonymous",
            RegistryAuth::Basic => "Username and password",
            RegistryAuth::Token => "Token",
        }
    }
}

impl FromStr for RegistryAuth {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "anonymous" => Ok(RegistryAuth::Anonymous),
            "basic" => Ok(RegistryAuth::Basic),
            "token" => Ok(RegistryAuth::Token),
            other => Err(format!(
                "unknown credential type '{other}' (expected anonymous, basic or token)"
            )),
        }
    }
}

/// A Docker registry as administrators see it. The password or token itself never leaves the
/// server; `secret_set` says whether one is stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DockerRegistry {
    pub id: DockerRegistryId,
    pub name: String,
    pub url: String,
    pub insecure_http: bool,
    pub auth: RegistryAuth,
    pub username: Option<String>,
    pub secret_set: bool,
    pub ca_pem: Option<String>,
    pub skip_tls_verify: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A registry's name, for choosing one (what DOERs may see).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RegistryName {
    pub id: DockerRegistryId,
    pub name: String,
}

/// The registry form. `id: None` creates; `secret: None` keeps the stored secret.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct DockerRegistryInput {
    pub id: Option<DockerRegistryId>,
    pub name: String,
    pub url: String,
    pub insecure_http: bool,
    pub auth: String,
    pub username: String,
    pub secret: Option<String>,
    pub ca_pem: String,
    pub skip_tls_verify: bool,
}

/// The result of "Test connection": which stage failed and why, in words.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    /// `dns`, `connect`, `tls`, `timeout`, `auth`, `api` or `ok`.
    pub stage: String,
    pub message: String,
}

/// How serious an activity entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Severity {
    Info,
    Warning,
    Error,
}

impl Severity {
    /// The stored and displayed name.
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warning => "WARNING",
            Severity::Error => "ERROR",
        }
    }
}

/// One entry of the activity log.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Activity {
    pub id: i64,
    pub at: DateTime<Utc>,
    /// A username, or `scheduler` / `webhook` for automatic actions.
    pub actor: String,
    /// What happened, e.g. `docker_registry.created`.
    pub kind: String,
    /// What it happened to, e.g. a registry name.
    pub subject: String,
    pub message: String,
    pub severity: Severity,
}

/// Which activity entries to show.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ActivityQuery {
    /// Only kinds starting with this (e.g. `docker_registry`).
    pub kind: Option<String>,
    /// Zero-based page.
    pub page: u64,
}

/// A page of activity entries, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub items: Vec<Activity>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}
