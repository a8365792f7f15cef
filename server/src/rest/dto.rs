//! What the REST API sends and receives. Its own types, not the UI's models: the public API is
//! versioned (`/api/v1/`) and keeps its shape when the pages change theirs.

use app::model::{DashboardRow, DeployState, DeployStatus, PollReport, Project, ProjectVersion};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use utoipa::{IntoParams, ToSchema};

/// A version's state in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    NotDeployed,
    Running,
    Deploying,
    Stopping,
    Degraded,
    Failed,
}

impl From<DeployState> for State {
    fn from(s: DeployState) -> Self {
        match s {
            DeployState::NotDeployed => State::NotDeployed,
            DeployState::Running => State::Running,
            DeployState::Deploying => State::Deploying,
            DeployState::Stopping => State::Stopping,
            DeployState::Degraded => State::Degraded,
            DeployState::Failed => State::Failed,
        }
    }
}

/// A version's deployment.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Status {
    pub state: State,
    /// Why: the deploy error, what is degraded, or what is in progress.
    pub message: String,
    /// Whether the version should run (the last request was a deploy).
    pub desired: bool,
    /// A request waits for the one in progress to finish.
    pub queued: bool,
    pub namespace: Option<String>,
    /// Who asked for the last deploy or stop (a username, with the token it used).
    pub requested_by: Option<String>,
    pub started_at: Option<DateTime<Utc>>,
    /// When the last apply finished.
    pub applied_at: Option<DateTime<Utc>>,
    /// When it will be stopped; none: not planned.
    pub stop_at: Option<DateTime<Utc>>,
    /// The configuration changed since it was deployed.
    pub outdated: bool,
    /// The tag points at a newer image than the one deployed.
    pub newer_image: bool,
}

impl From<DeployStatus> for Status {
    fn from(s: DeployStatus) -> Self {
        Status {
            state: s.state.into(),
            message: s.message,
            desired: s.desired,
            queued: s.queued,
            namespace: s.namespace,
            requested_by: s.requested_by,
            started_at: s.started_at,
            applied_at: s.applied_at,
            stop_at: s.stop_at,
            outdated: s.outdated,
            newer_image: s.newer_image,
        }
    }
}

/// A project.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectOut {
    pub id: i64,
    pub name: String,
    /// The Docker registry's name in O-Neko.
    pub registry: String,
    pub image_repository: String,
    /// Versions whose tag still exists.
    pub versions: u64,
    pub deployed_versions: u64,
    /// The worst state of its versions.
    pub state: State,
    /// Why the last poll of its tags failed; none when it succeeded.
    pub poll_error: Option<String>,
    pub last_poll_at: Option<DateTime<Utc>>,
}

impl From<Project> for ProjectOut {
    fn from(p: Project) -> Self {
        ProjectOut {
            id: p.id.0,
            name: p.name,
            registry: p.registry.name,
            image_repository: p.image_repository,
            versions: p.versions,
            deployed_versions: p.deployed_versions,
            state: p.state.into(),
            poll_error: p.poll.last_error,
            last_poll_at: p.poll.last_poll_at,
        }
    }
}

/// A version (an image tag) in a list.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionOut {
    pub id: i64,
    pub project: i64,
    /// The image tag.
    pub tag: String,
    pub digest: Option<String>,
    pub image_created_at: Option<DateTime<Utc>>,
    /// The tag vanished from the registry.
    pub removed: bool,
    pub status: Status,
}

impl From<ProjectVersion> for VersionOut {
    fn from(v: ProjectVersion) -> Self {
        VersionOut {
            id: v.id.0,
            project: v.project.0,
            tag: v.name,
            digest: v.digest,
            image_created_at: v.image_created_at,
            removed: v.removed_at.is_some(),
            status: v.status.into(),
        }
    }
}

/// A select variable the dashboard (and this API) may switch, with the version's value.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SelectVariable {
    pub name: String,
    pub label: String,
    pub values: Vec<String>,
    pub current: String,
}

/// One version with its deployment and URLs.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionView {
    pub id: i64,
    pub project: i64,
    pub project_name: String,
    pub tag: String,
    pub digest: Option<String>,
    pub removed: bool,
    pub status: Status,
    /// Rendered URL templates, then the hosts of its Ingresses.
    pub urls: Vec<String>,
    pub select_variables: Vec<SelectVariable>,
}

impl From<DashboardRow> for VersionView {
    fn from(r: DashboardRow) -> Self {
        VersionView {
            id: r.version.0,
            project: r.project.0,
            project_name: r.project_name,
            tag: r.version_name,
            digest: r.digest,
            removed: r.removed,
            status: r.status.into(),
            urls: r.urls,
            select_variables: r
                .variables
                .into_iter()
                .map(|v| SelectVariable {
                    name: v.name,
                    label: v.label,
                    values: v.values,
                    current: v.current,
                })
                .collect(),
        }
    }
}

/// A page of projects.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ProjectPage {
    pub items: Vec<ProjectOut>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// A page of versions.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct VersionPage {
    pub items: Vec<VersionOut>,
    pub total: u64,
    pub page: u64,
    pub per_page: u64,
}

/// What a poll of the project's tags found.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PollResult {
    pub tags_seen: u64,
    pub new_versions: Vec<String>,
    pub removed_versions: Vec<String>,
    pub restored_versions: Vec<String>,
    /// Tags whose image changed.
    pub digest_changes: Vec<String>,
}

impl From<PollReport> for PollResult {
    fn from(r: PollReport) -> Self {
        PollResult {
            tags_seen: r.tags_seen,
            new_versions: r.new_versions,
            removed_versions: r.removed_versions,
            restored_versions: r.restored_versions,
            digest_changes: r.digest_changes,
        }
    }
}

/// Sets the time a version stops.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StopTime {
    /// When to stop it (RFC 3339), in the future.
    pub at: DateTime<Utc>,
}

/// New values for a version's dashboard select variables (each one of its allowed values).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct SelectValues {
    pub values: BTreeMap<String, String>,
}

/// An error. `kind` is one of O-Neko's error kinds; the other fields depend on it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// `unauthenticated`, `forbidden`, `not_found`, `invalid`, `conflict`, `rate_limited`,
    /// `upstream`, `bad_request` or `internal`.
    pub kind: String,
    /// The problem in words.
    pub message: String,
    /// For `invalid`: the fields and what is wrong with each.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fields: Option<Vec<FieldProblem>>,
}

/// What is wrong with one input field.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct FieldProblem {
    pub field: String,
    pub message: String,
}

/// Paging of a list: `page` from 1, `per_page` up to 200 (default 50).
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ProjectQuery {
    /// Only the project with exactly this name.
    pub name: Option<String>,
    /// Page number, from 1.
    pub page: Option<u64>,
    /// Items per page (1–200, default 50).
    pub per_page: Option<u64>,
}

/// Which versions of a project to list.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionFilter {
    /// Only the version with exactly this tag.
    pub tag: Option<String>,
    /// Only tags containing this text.
    pub filter: Option<String>,
    /// Also versions whose tag was removed from the registry.
    pub include_removed: Option<bool>,
    /// Page number, from 1.
    pub page: Option<u64>,
    /// Items per page (1–200, default 50).
    pub per_page: Option<u64>,
}

/// Whether to answer at once or when the version got where it was asked to go.
#[derive(Clone, Debug, Default, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct Wait {
    /// `running` (deploy, redeploy) or `stopped` (stop); case does not matter. Without it the
    /// answer comes as soon as the request is recorded.
    pub wait: Option<String>,
    /// Seconds to wait (1–3600, default 600).
    pub timeout: Option<u64>,
}
