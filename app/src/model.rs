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
    /// Signs in with OpenID Connect (no password here; the role comes from the provider).
    pub single_sign_on: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// What the login page offers, and why the last single sign-on failed (shown once).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct LoginOptions {
    /// A "Log in with single sign-on" button (OpenID Connect is configured).
    pub single_sign_on: bool,
    /// The password form is only for the break-glass administrator.
    pub break_glass_only: bool,
    /// The message of a single sign-on that just failed.
    pub error: Option<String>,
}

/// The logged-in user, as every page sees it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CurrentUser {
    pub id: UserId,
    pub username: String,
    pub display_name: Option<String>,
    /// The role this request acts with (an API token may cap it below the user's).
    pub role: Role,
    /// The API token the request came with; `None` for a browser session.
    #[serde(default)]
    pub token: Option<String>,
}

impl CurrentUser {
    /// Whether this user holds at least `role`.
    pub fn has(&self, role: Role) -> bool {
        self.role >= role
    }

    /// Ok if this user holds at least `min`, else the refusal every API gives (logged on the
    /// server, where the refusal happens).
    pub fn require(&self, min: Role) -> Result<(), crate::error::AppError> {
        if self.has(min) {
            return Ok(());
        }
        #[cfg(feature = "ssr")]
        tracing::info!(user = %self.actor(), role = %self.role, required = %min, "refused");
        Err(crate::error::AppError::forbidden(format!(
            "this needs the {min} role"
        )))
    }

    /// The name to greet the user with.
    pub fn label(&self) -> &str {
        self.display_name.as_deref().unwrap_or(&self.username)
    }

    /// Who did it, as the activity log and "requested by" name them: the username, and the API
    /// token it came with.
    pub fn actor(&self) -> String {
        match &self.token {
            Some(token) => format!("{} (token {token})", self.username),
            None => self.username.clone(),
        }
    }
}

/// A personal API token as its owner (or an ADMIN) sees it; the secret is never shown again.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ApiToken {
    pub id: i64,
    pub owner: String,
    pub name: String,
    /// The highest role it acts with; `None`: its owner's role.
    pub role_cap: Option<Role>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub last_used_at: Option<DateTime<Utc>>,
}

/// The "new token" form. Text fields, so a bad value is a field error.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct NewApiToken {
    pub name: String,
    /// Whole days until it expires; empty: never.
    pub expires_in_days: String,
    /// `VIEWER`, `DOER` or `ADMIN` (at most the owner's role); empty: the owner's role.
    pub role_cap: String,
}

/// A token just created: the only time its secret is shown.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct CreatedApiToken {
    pub token: ApiToken,
    pub secret: String,
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
    /// The path webhook calls go to (`/hooks/registry/<token>`).
    pub webhook_path: Option<String>,
    /// Whether a webhook secret is stored (webhooks are refused without one).
    pub webhook_secret_set: bool,
    /// Whether deployments get the credentials as an image pull secret (`IMAGE_PULL_SECRET`).
    #[serde(default)]
    pub copy_pull_secret: bool,
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
    /// A new webhook secret; `None` or empty keeps the stored one.
    #[serde(default)]
    pub webhook_secret: Option<String>,
    /// Copy the credentials into every deployment of the registry's projects as an image pull
    /// secret. `None` keeps the stored choice; a new registry without it does not copy.
    #[serde(default)]
    pub copy_pull_secret: Option<bool>,
}

/// Primary key of a Helm registry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct HelmRegistryId(pub i64);

/// Where a Helm registry keeps its charts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HelmRegistryKind {
    /// A chart repository with an `index.yaml` over HTTP(S).
    Http,
    /// An OCI registry (`oci://host/path`).
    Oci,
    /// A Google Cloud Storage bucket (`gs://bucket/path`) holding `index.yaml` and the charts.
    Gcs,
}

impl HelmRegistryKind {
    pub const ALL: [HelmRegistryKind; 3] = [
        HelmRegistryKind::Http,
        HelmRegistryKind::Oci,
        HelmRegistryKind::Gcs,
    ];

    /// The stored and form value.
    pub fn as_str(self) -> &'static str {
        match self {
            HelmRegistryKind::Http => "http",
            HelmRegistryKind::Oci => "oci",
            HelmRegistryKind::Gcs => "gcs",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            HelmRegistryKind::Http => "Chart repository (HTTP)",
            HelmRegistryKind::Oci => "OCI registry",
            HelmRegistryKind::Gcs => "Google Cloud Storage",
        }
    }
}

impl FromStr for HelmRegistryKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        HelmRegistryKind::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("Choose one of: http, oci, gcs (not '{s}')."))
    }
}

/// A Helm registry as administrators see it; the password or key never leaves the server.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelmRegistry {
    pub id: HelmRegistryId,
    pub name: String,
    pub kind: HelmRegistryKind,
    /// `https://…` (HTTP), `oci://host/path` (OCI) or `gs://bucket/path` (GCS).
    pub url: String,
    pub username: Option<String>,
    /// Whether a password (HTTP, OCI) or service-account key (GCS) is stored.
    pub secret_set: bool,
    pub ca_pem: Option<String>,
    /// OCI over plain HTTP (for registries without TLS).
    pub plain_http: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// A Helm registry's name, for the chart picker (what DOERs may see).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelmRegistryName {
    pub id: HelmRegistryId,
    pub name: String,
    pub kind: HelmRegistryKind,
}

/// The Helm registry form. `id: None` creates; `secret: None` (or empty) keeps the stored one.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct HelmRegistryInput {
    pub id: Option<HelmRegistryId>,
    pub name: String,
    pub kind: String,
    pub url: String,
    pub username: String,
    pub secret: Option<String>,
    pub ca_pem: String,
    pub plain_http: bool,
}

/// One version of a chart, as the chart picker shows it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChartVersion {
    pub version: String,
    pub app_version: String,
    pub description: String,
}

/// A chart and its versions, newest first.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chart {
    pub name: String,
    pub versions: Vec<ChartVersion>,
}

/// The charts of a Helm registry, and when they were read from it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ChartList {
    pub registry: HelmRegistryId,
    pub charts: Vec<Chart>,
    pub fetched_at: DateTime<Utc>,
}

/// A shared namespace an ADMIN defined, as it is in the cluster.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DefinedNamespace {
    pub id: i64,
    pub name: String,
    /// `Active`, `Terminating`, `Missing` (deleted by someone else) or why it is unknown.
    pub phase: String,
    /// Projects that deploy into it.
    pub used_by: Vec<String>,
    pub created_by: String,
    pub created_at: DateTime<Utc>,
}

/// The cluster O-Neko deploys to.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ClusterInfo {
    pub connected: bool,
    /// Where the connection comes from, or why there is none.
    pub source: String,
    /// The API server's version, e.g. `v1.35.0`, or why it could not be read.
    pub version: String,
    /// Demo mode: the cluster is the simulated one.
    #[serde(default)]
    pub simulated: bool,
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
    /// Only entries about this project.
    pub project: Option<ProjectId>,
    /// Zero-based page.
    pub page: u64,
    /// Only entries by this actor (a username, `scheduler`, `webhook`).
    #[serde(default)]
    pub actor: Option<String>,
    /// Only entries at or after this moment.
    #[serde(default)]
    pub since: Option<DateTime<Utc>>,
    /// Only entries before this moment.
    #[serde(default)]
    pub until: Option<DateTime<Utc>>,
}

/// A page of activity entries, newest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ActivityPage {
    pub items: Vec<Activity>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// Primary key of a project.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ProjectId(pub i64);

/// Primary key of a project version.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct VersionId(pub i64);

/// What a deployed version does when its tag points at a new image.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RedeployPolicy {
    /// Redeploy at once.
    Automatic,
    /// Show "image updated"; someone redeploys by hand.
    Manual,
}

impl RedeployPolicy {
    pub const ALL: [RedeployPolicy; 2] = [RedeployPolicy::Automatic, RedeployPolicy::Manual];

    /// The stored and form value.
    pub fn as_str(self) -> &'static str {
        match self {
            RedeployPolicy::Automatic => "automatic",
            RedeployPolicy::Manual => "manual",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            RedeployPolicy::Automatic => "Redeploy automatically when the image changes",
            RedeployPolicy::Manual => "Redeploy manually",
        }
    }
}

impl FromStr for RedeployPolicy {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "automatic" => Ok(RedeployPolicy::Automatic),
            "manual" => Ok(RedeployPolicy::Manual),
            other => Err(format!(
                "unknown redeploy policy '{other}' (expected automatic or manual)"
            )),
        }
    }
}

/// How long a deployment lives before the scheduler stops it, counted from the user's deploy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "n")]
pub enum Lifetime {
    Infinite,
    Hours(u32),
    Days(u32),
    /// Until the end of the current day.
    UntilTonight,
    /// Until the end of the current week.
    UntilWeekend,
    /// Until a given moment.
    At(DateTime<Utc>),
}

impl Lifetime {
    /// The stored form: `infinite`, `hours:8`, `days:2`, `tonight`, `weekend`.
    pub fn encode(self) -> String {
        match self {
            Lifetime::Infinite => "infinite".into(),
            Lifetime::Hours(n) => format!("hours:{n}"),
            Lifetime::Days(n) => format!("days:{n}"),
            Lifetime::UntilTonight => "tonight".into(),
            Lifetime::UntilWeekend => "weekend".into(),
            Lifetime::At(t) => format!("at:{}", t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
        }
    }

    /// The lifetime form's two fields: the kind, and a count (hours, days) or a date and time
    /// (`YYYY-MM-DDTHH:MM`, UTC) for `at`.
    pub fn form_parts(self) -> (&'static str, String) {
        match self {
            Lifetime::Infinite => ("infinite", String::new()),
            Lifetime::Hours(n) => ("hours", n.to_string()),
            Lifetime::Days(n) => ("days", n.to_string()),
            Lifetime::UntilTonight => ("tonight", String::new()),
            Lifetime::UntilWeekend => ("weekend", String::new()),
            Lifetime::At(t) => ("at", t.format("%Y-%m-%dT%H:%M").to_string()),
        }
    }

    /// The stored form of what the lifetime form holds (see [`Lifetime::form_parts`]).
    pub fn form_encode(kind: &str, value: &str) -> String {
        let value = value.trim();
        match kind {
            "hours" | "days" => format!("{kind}:{value}"),
            // A datetime-local input gives minutes, sometimes seconds.
            "at" if value.len() == 16 => format!("at:{value}:00Z"),
            "at" => format!("at:{value}Z"),
            other => other.to_string(),
        }
    }

    /// The choices of the lifetime form.
    pub const FORM_KINDS: [(&'static str, &'static str); 6] = [
        ("infinite", "Until stopped"),
        ("hours", "Some hours"),
        ("days", "Some days"),
        ("tonight", "Until tonight"),
        ("weekend", "Until the weekend"),
        ("at", "Until a date and time (UTC)"),
    ];

    /// A label for people.
    pub fn label(self) -> String {
        match self {
            Lifetime::Infinite => "Until stopped".into(),
            Lifetime::Hours(n) => format!("{n} hours"),
            Lifetime::Days(n) => format!("{n} days"),
            Lifetime::UntilTonight => "Until tonight".into(),
            Lifetime::UntilWeekend => "Until the weekend".into(),
            Lifetime::At(t) => format!("Until {}", t.format("%Y-%m-%d %H:%M UTC")),
        }
    }
}

impl FromStr for Lifetime {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let count = |n: &str, unit: &str, max: u32| -> Result<u32, String> {
            match n.trim().parse::<u32>() {
                Ok(v) if (1..=max).contains(&v) => Ok(v),
                _ => Err(format!("the number of {unit} must be between 1 and {max}")),
            }
        };
        match s.trim() {
            "infinite" => Ok(Lifetime::Infinite),
            "tonight" => Ok(Lifetime::UntilTonight),
            "weekend" => Ok(Lifetime::UntilWeekend),
            other => match other.split_once(':') {
                Some(("hours", n)) => count(n, "hours", 24 * 365).map(Lifetime::Hours),
                Some(("days", n)) => count(n, "days", 365).map(Lifetime::Days),
                Some(("at", t)) => DateTime::parse_from_rfc3339(t.trim())
                    .map(|t| Lifetime::At(t.with_timezone(&Utc)))
                    .map_err(|_| format!("'{t}' is not a date and time like 2026-12-24T18:00:00Z")),
                _ => Err(format!(
                    "unknown lifetime '{other}' (expected infinite, hours:N, days:N, tonight, weekend or at:DATE)"
                )),
            },
        }
    }
}

/// The outcome of a project's polls, as the project page shows it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PollStatus {
    pub last_poll_at: Option<DateTime<Utc>>,
    pub last_ok_at: Option<DateTime<Utc>>,
    /// Why the last poll failed; `None` when it succeeded.
    pub last_error: Option<String>,
    /// Consecutive failures (each one doubles the wait before the next poll).
    pub failures: u32,
    pub next_poll_at: Option<DateTime<Utc>>,
}

/// A project as lists and the project page show it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Project {
    pub id: ProjectId,
    pub name: String,
    pub registry: RegistryName,
    pub image_repository: String,
    pub redeploy_policy: RedeployPolicy,
    pub lifetime: Lifetime,
    pub tag_include: String,
    pub tag_exclude: String,
    pub ignore_signature_tags: bool,
    /// Seconds between polls; `None` uses the server's default.
    pub poll_interval_secs: Option<u32>,
    /// The defined namespace all versions deploy into; `None`: one `on-` namespace per version.
    pub namespace: Option<String>,
    pub poll: PollStatus,
    /// Versions whose tag still exists.
    pub versions: u64,
    pub deployed_versions: u64,
    /// The worst state of its versions.
    #[serde(default)]
    pub state: DeployState,
    /// The project is being deleted: its versions are being stopped first.
    #[serde(default)]
    pub deleting: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

/// The project form. `id: None` creates. Choices arrive as text so that a bad value is a field
/// error, not an undecodable request.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectInput {
    pub id: Option<ProjectId>,
    pub name: String,
    pub registry: Option<DockerRegistryId>,
    pub image_repository: String,
    pub redeploy_policy: String,
    pub lifetime: String,
    pub tag_include: String,
    pub tag_exclude: String,
    pub ignore_signature_tags: bool,
    /// Seconds; empty uses the server's default.
    pub poll_interval_secs: String,
    /// A defined namespace all versions deploy into; empty: one `on-` namespace per version.
    #[serde(default)]
    pub namespace: String,
}

/// "Import project": an export (the original O-Neko's JSON format or ours), and choices that
/// override what it says: a new name (empty keeps the export's) and the Docker registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ProjectImport {
    pub json: String,
    pub name: String,
    pub registry: Option<DockerRegistryId>,
}

/// The imported project and what needs attention (e.g. unknown Helm registries).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ImportReport {
    pub project: Project,
    pub warnings: Vec<String>,
}

/// One version of a project: an image tag.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProjectVersion {
    pub id: VersionId,
    pub project: ProjectId,
    /// The tag.
    pub name: String,
    pub digest: Option<String>,
    pub image_created_at: Option<DateTime<Utc>>,
    /// When the tag last started pointing at a different image.
    pub image_updated_at: Option<DateTime<Utc>>,
    pub first_seen_at: DateTime<Utc>,
    /// When the tag vanished from the registry.
    pub removed_at: Option<DateTime<Utc>>,
    /// Desired state: the version should run.
    pub deployed: bool,
    pub redeploy_policy: RedeployPolicy,
    /// Its deployment as the cluster has it.
    #[serde(default)]
    pub status: DeployStatus,
}

/// How a version list is sorted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum VersionSort {
    /// Newest image first (versions without a date last).
    #[default]
    Newest,
    /// By tag name.
    Name,
}

/// Which versions of a project to show.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionQuery {
    pub project: ProjectId,
    /// Only tags containing this text.
    pub filter: String,
    pub include_removed: bool,
    pub sort: VersionSort,
    /// Zero-based page.
    pub page: u64,
    /// Only the version with exactly this tag.
    #[serde(default)]
    pub tag: Option<String>,
    /// Versions per page; `None`: 50.
    #[serde(default)]
    pub page_size: Option<u64>,
}

/// A page of versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionPage {
    pub items: Vec<ProjectVersion>,
    pub total: u64,
    pub page: u64,
    pub page_size: u64,
}

/// What one poll found.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PollReport {
    pub tags_seen: u64,
    pub new_versions: Vec<String>,
    pub removed_versions: Vec<String>,
    pub restored_versions: Vec<String>,
    /// Tags whose image changed.
    pub digest_changes: Vec<String>,
    /// Tags skipped because they are not valid tags (escaped, e.g. `"bad\nname"`); never versions.
    #[serde(default)]
    pub skipped_tags: Vec<String>,
}

/// A user-defined template variable. With `use_values` it is a **select variable**: its value is
/// one of `values`, and with `show_on_dashboard` every role may switch it per version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TemplateVariable {
    pub name: String,
    pub label: String,
    pub default_value: String,
    pub use_values: bool,
    pub values: Vec<String>,
    pub show_on_dashboard: bool,
}

/// A configuration template: the Helm values (with `{{ VARIABLES }}`) for one chart. Each
/// becomes one Helm release of a deployment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConfigTemplate {
    pub name: String,
    pub description: String,
    pub helm_registry: Option<i64>,
    /// The chart's name in its registry, e.g. `nginx`.
    pub chart_name: String,
    /// Empty: the latest version.
    pub chart_version: String,
    /// The values YAML template.
    pub content: String,
}

/// A project's configuration: what every version inherits.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProjectConfig {
    /// Rendered per version into `URLS` (see built-ins only).
    pub url_templates: Vec<String>,
    pub templates: Vec<ConfigTemplate>,
    pub variables: Vec<TemplateVariable>,
}

/// What one version changes of its project's configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VersionOverrides {
    /// `None`: the project's default lifetime.
    pub lifetime: Option<Lifetime>,
    /// Non-empty: replaces the project's URL templates.
    pub url_templates: Vec<String>,
    /// Merged with the project's templates by name: same name overrides, a new name adds.
    pub templates: Vec<ConfigTemplate>,
    /// Values for the project's variables, and extra variables of this version only.
    pub values: std::collections::BTreeMap<String, String>,
    /// `None`: as the project; `Some("")`: the version's own `on-` namespace; else a defined
    /// namespace.
    pub namespace: Option<String>,
}

/// A version with everything its page shows and edits.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionDetail {
    pub project: Project,
    pub version: ProjectVersion,
    pub project_config: ProjectConfig,
    pub overrides: VersionOverrides,
}

/// The version form: behaviour and configuration overrides. Choices arrive as text.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct VersionInput {
    pub id: Option<VersionId>,
    /// `automatic`, `manual`, or empty for the project's default.
    pub redeploy_policy: String,
    pub overrides: VersionOverrides,
}

/// One rendered configuration template.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RenderedTemplate {
    pub name: String,
    pub release_name: String,
    pub chart: String,
    /// Where the template comes from: `project`, `version` (added) or `override`.
    pub origin: String,
    pub values: String,
    /// The Kubernetes manifests `helm template` renders from the chart with these values.
    #[serde(default)]
    pub manifests: Option<String>,
    /// Why there are no manifests (no Helm registry chosen, chart missing, helm failed).
    #[serde(default)]
    pub manifests_error: Option<String>,
}

/// "Show configuration": what would be deployed for a version, or why it cannot be rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ConfigPreview {
    pub variables: Vec<(String, String)>,
    pub urls: Vec<String>,
    pub templates: Vec<RenderedTemplate>,
    pub namespace: String,
    /// Fingerprint of the rendered result: a deployed version whose hash differs is outdated.
    pub hash: Option<String>,
    /// The rendering error, in words with template and line.
    pub error: Option<String>,
}

/// The state of a version in the cluster, as every page shows it (always with words, never only
/// a colour). Ordered by severity: the worst version decides a project's state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeployState {
    /// Nothing of it runs.
    #[default]
    NotDeployed,
    /// Every workload is available.
    Running,
    /// Being applied, or workloads are still rolling out.
    Deploying,
    /// Being removed from the cluster.
    Stopping,
    /// Applied, but workloads are unhealthy (the reason says why).
    Degraded,
    /// The last deploy failed (the reason says why).
    Failed,
}

impl DeployState {
    pub const ALL: [DeployState; 6] = [
        DeployState::NotDeployed,
        DeployState::Running,
        DeployState::Deploying,
        DeployState::Stopping,
        DeployState::Degraded,
        DeployState::Failed,
    ];

    /// The stored value.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployState::NotDeployed => "not_deployed",
            DeployState::Running => "running",
            DeployState::Deploying => "deploying",
            DeployState::Stopping => "stopping",
            DeployState::Degraded => "degraded",
            DeployState::Failed => "failed",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            DeployState::NotDeployed => "Not deployed",
            DeployState::Running => "Running",
            DeployState::Deploying => "Deploying",
            DeployState::Stopping => "Stopping",
            DeployState::Degraded => "Degraded",
            DeployState::Failed => "Failed",
        }
    }

    /// The worst of two states (a project shows the worst of its versions).
    pub fn worst(self, other: DeployState) -> DeployState {
        self.max(other)
    }
}

impl FromStr for DeployState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        DeployState::ALL
            .into_iter()
            .find(|k| k.as_str() == s)
            .ok_or_else(|| format!("unknown deployment state '{s}'"))
    }
}

/// A version's deployment, as lists, the dashboard and the version page show it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct DeployStatus {
    pub state: DeployState,
    /// Why: the deploy error, what is degraded, or what is in progress.
    pub message: String,
    /// Whether the version should run (the user's last request).
    pub desired: bool,
    /// A request waits for the one in progress to finish.
    pub queued: bool,
    pub namespace: Option<String>,
    /// Who asked for the last deploy or stop (a username, `scheduler` or `webhook`).
    pub requested_by: Option<String>,
    /// When a user last deployed it (the lifetime counts from here).
    pub started_at: Option<DateTime<Utc>>,
    /// When the last apply finished.
    pub applied_at: Option<DateTime<Utc>>,
    /// When it will be stopped; `None`: not planned.
    pub stop_at: Option<DateTime<Utc>>,
    /// The configuration (templates, variables, charts, image) changed since it was deployed.
    pub outdated: bool,
    /// The tag points at a newer image than the one deployed.
    pub newer_image: bool,
    /// What was changed (or deleted) in the cluster outside O-Neko since it applied the
    /// version, e.g. `Deployment/web changed outside O-Neko`.
    #[serde(default)]
    pub changed_outside: Option<String>,
}

/// A change of a version's status, pushed to every open page (server-sent events).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LiveEvent {
    pub project: ProjectId,
    pub version: VersionId,
    pub status: DeployStatus,
}

/// A container of a pod.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ContainerInfo {
    pub name: String,
    pub image: String,
    /// The image the container actually runs (`imageID`: repository and digest).
    pub image_id: String,
    pub ready: bool,
    pub restarts: i32,
    /// `running`, `waiting: ImagePullBackOff`, `terminated: Error (exit 1)`…
    pub state: String,
    /// The external log viewer's link for this container, when one is configured.
    pub log_link: Option<String>,
}

/// A pod of a deployed version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PodInfo {
    pub name: String,
    pub phase: String,
    pub ready: u32,
    pub total: u32,
    pub restarts: i32,
    /// Why it is not healthy, if it is not.
    pub problem: Option<String>,
    pub containers: Vec<ContainerInfo>,
    pub created_at: Option<DateTime<Utc>>,
}

/// A Kubernetes event about an object of the deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct EventInfo {
    pub at: Option<DateTime<Utc>>,
    /// `Normal` or `Warning`.
    pub kind: String,
    pub reason: String,
    /// `Pod/web-5d9c-x2x8q`.
    pub object: String,
    pub message: String,
    pub count: i32,
}

/// What the version page shows of a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeploymentDetail {
    pub status: DeployStatus,
    pub pods: Vec<PodInfo>,
    /// Newest first.
    pub events: Vec<EventInfo>,
    /// Rendered URL templates, then hosts of the deployment's Ingresses.
    pub urls: Vec<String>,
    /// `Kind/name` of the objects applied.
    pub objects: Vec<String>,
}

/// A select variable on the dashboard, with the version's current value.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardVariable {
    pub name: String,
    pub label: String,
    pub values: Vec<String>,
    pub current: String,
}

/// One row of the dashboard: a deployed (or deploying, stopping, failed) version.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DashboardRow {
    pub project: ProjectId,
    pub project_name: String,
    pub version: VersionId,
    pub version_name: String,
    pub status: DeployStatus,
    pub image_created_at: Option<DateTime<Utc>>,
    /// The image the tag points at.
    #[serde(default)]
    pub digest: Option<String>,
    /// The tag vanished from the registry.
    #[serde(default)]
    pub removed: bool,
    pub urls: Vec<String>,
    pub variables: Vec<DashboardVariable>,
}

/// A version found by the dashboard's search.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct VersionHit {
    pub project: ProjectId,
    pub project_name: String,
    pub version: VersionId,
    pub version_name: String,
    pub image_created_at: Option<DateTime<Utc>>,
    pub state: DeployState,
}

/// The outcome of a deploy or stop of one of several versions.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct BatchOutcome {
    pub version: VersionId,
    /// `project:tag`.
    pub name: String,
    /// `None`: accepted; else why not.
    pub error: Option<String>,
}

/// The `href` for a URL rendered from a URL template: the URL itself when it is `http(s)://…`,
/// `http://` + it when it has no scheme (`shop.example.com/path`), or `None` when the result
/// would not be a plain http(s) link to a host (`javascript:…`, `data:…`, `javascript://…`), so
/// a template can never put a script link in front of whoever clicks it. The server refuses
/// such URL templates when they are saved and drops such URLs when it renders stored ones.
pub fn link_href(url: &str) -> Option<String> {
    let url = url.trim();
    if url.is_empty() || url.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return None;
    }
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let href = if lower.starts_with("http://") || lower.starts_with("https://") {
        url.to_owned()
    } else if url.contains("://") {
        return None;
    } else {
        format!("http://{url}")
    };
    let rest = &href[href.find("://")? + 3..];
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    // Userinfo is allowed (it stays an http link); the host must be a name or an IP literal.
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host_ok, port) = match host_port.strip_prefix('[') {
        Some(v6) => {
            let (addr, after) = v6.split_once(']')?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':')?),
            };
            let ok = !addr.is_empty()
                && addr
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() || matches!(c, ':' | '.'));
            (ok, port)
        }
        None => {
            let (host, port) = match host_port.split_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (host_port, None),
            };
            let ok = !host.is_empty()
                && host
                    .chars()
                    .all(|c| c.is_alphanumeric() || matches!(c, '.' | '-' | '_' | '%'));
            (ok, port)
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    (host_ok && port_ok).then_some(href)
}

/// The Pod Security Standards level of a project: the `pod-security.kubernetes.io/enforce` label
/// on every namespace O-Neko creates for it, and the pod rules O-Neko itself checks before it
/// applies anything (the simulated cluster, and clusters without Pod Security admission, do not).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PodSecurityLevel {
    /// No restrictions: host access and privileged containers are allowed.
    Privileged,
    /// No known privilege escalation: no host namespaces, host paths, host ports or privileged
    /// containers.
    #[default]
    Baseline,
    /// Hardened: baseline, plus non-root, no privilege escalation, all capabilities dropped, a
    /// seccomp profile, and only ordinary volume types.
    Restricted,
}

impl PodSecurityLevel {
    pub const ALL: [PodSecurityLevel; 3] = [
        PodSecurityLevel::Privileged,
        PodSecurityLevel::Baseline,
        PodSecurityLevel::Restricted,
    ];

    /// The stored and label value.
    pub fn as_str(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged",
            PodSecurityLevel::Baseline => "baseline",
            PodSecurityLevel::Restricted => "restricted",
        }
    }

    /// A label for people.
    pub fn label(self) -> &'static str {
        match self {
            PodSecurityLevel::Privileged => "privileged: no restrictions (host access allowed)",
            PodSecurityLevel::Baseline => "baseline: no host access, no privileged containers",
            PodSecurityLevel::Restricted => "restricted: baseline plus non-root and hardened containers",
        }
    }
}

impl FromStr for PodSecurityLevel {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "privileged" => Ok(PodSecurityLevel::Privileged),
            "baseline" => Ok(PodSecurityLevel::Baseline),
            "restricted" => Ok(PodSecurityLevel::Restricted),
            other => Err(format!(
                "unknown Pod Security level '{other}' (expected privileged, baseline or restricted)"
            )),
        }
    }
}

/// What a project's charts may create and where, like Argo CD's AppProject. Set by ADMINs;
/// everyone may read it. Kind patterns are `Kind` (that kind in Kubernetes' own API groups:
/// the core group, groups without a dot and `*.k8s.io`), `group/Kind`, `group/*`, `*/Kind`
/// or `*` (everything).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProjectPolicy {
    /// Namespaced kinds the project's charts may create.
    pub kinds: Vec<String>,
    /// Cluster-scoped kinds the project's charts may create (none by default).
    pub cluster_kinds: Vec<String>,
    /// Defined namespaces the project and its versions may deploy into, besides their own
    /// per-version namespaces: names, or `*` for every defined namespace; empty: per-version
    /// namespaces only.
    pub namespaces: Vec<String>,
    pub pod_security: PodSecurityLevel,
}

impl ProjectPolicy {
    /// The namespaced kinds ordinary applications need. Not DaemonSets (a pod on every node),
    /// not Roles and RoleBindings (a chart could grant its pods rights in the namespace).
    pub const DEFAULT_KINDS: [&'static str; 14] = [
        "ConfigMap",
        "CronJob",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Ingress",
        "Job",
        "NetworkPolicy",
        "PersistentVolumeClaim",
        "Pod",
        "PodDisruptionBudget",
        "Secret",
        "Service",
        "ServiceAccount",
        "StatefulSet",
    ];
}

impl Default for ProjectPolicy {
    fn default() -> Self {
        ProjectPolicy {
            kinds: Self::DEFAULT_KINDS.iter().map(|k| (*k).to_owned()).collect(),
            cluster_kinds: vec![],
            namespaces: vec!["*".to_owned()],
            pod_security: PodSecurityLevel::Baseline,
        }
    }
}
