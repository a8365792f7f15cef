//! `projects`: an image in a Docker registry, how its versions behave, and the poller's state.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "projects")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub docker_registry_id: i64,
    /// Repository path inside the registry, e.g. `team/app`.
    pub image_repository: String,
    /// `automatic` or `manual`: what new versions do when their image changes.
    pub redeploy_policy: String,
    /// Default lifetime of deployments, e.g. `infinite`, `hours:8`, `days:2`, `tonight`, `weekend`.
    pub lifetime: String,
    pub tag_include: String,
    pub tag_exclude: String,
    pub ignore_signature_tags: bool,
    /// Overrides the global poll interval.
    pub poll_interval_secs: Option<i32>,
    pub last_poll_at: Option<DateTimeUtc>,
    pub last_poll_ok_at: Option<DateTimeUtc>,
    pub last_poll_error: Option<String>,
    /// Consecutive failed polls; drives the back-off.
    pub poll_failures: i32,
    /// When the poller next looks; `None` means as soon as possible.
    pub next_poll_at: Option<DateTimeUtc>,
    /// `app::model::ProjectConfig` as JSON; `None` is the empty configuration.
    pub config: Option<String>,
    /// An admin-defined namespace all versions deploy into; `None`: one `on-` namespace each.
    pub namespace: Option<String>,
    /// Set when a user deleted the project while versions ran: it goes once they are stopped.
    pub deleting_at: Option<DateTimeUtc>,
    /// The deployment policy (`app::model::ProjectPolicy`): namespaced kinds its charts may
    /// create, as a JSON list; `None`: the defaults.
    pub policy_kinds: Option<String>,
    /// Cluster-scoped kinds, as a JSON list; `None`: none.
    pub policy_cluster_kinds: Option<String>,
    /// Defined namespaces it may use, as a JSON list (`*`: any); `None`: any.
    pub policy_namespaces: Option<String>,
    /// The Pod Security level of its namespaces; `None`: `baseline`.
    pub pod_security: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
