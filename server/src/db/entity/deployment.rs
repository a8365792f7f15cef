//! `deployments`: one per version that was ever deployed. The version's `deployed` flag is the
//! desired state; `generation` counts requests, `done_generation` the ones carried out.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deployments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub version_id: i64,
    pub project_id: i64,
    /// The namespace the version is (or was last) deployed into.
    pub namespace: String,
    /// Whether that is an admin-defined shared namespace (stop deletes only our objects).
    pub shared: bool,
    /// Bumped by every deploy, redeploy or stop request.
    pub generation: i64,
    /// The last generation carried out (successfully or not).
    pub done_generation: i64,
    /// Who asked for the pending (or last) generation: a username, `scheduler` or `webhook`.
    pub requested_by: String,
    pub requested_at: DateTimeUtc,
    /// Why, when it was not a click (e.g. "image changed").
    pub reason: String,
    /// `app::model::DeployState` as stored.
    pub state: String,
    /// The reason behind the state: a deploy error, why workloads are degraded, progress.
    pub message: String,
    /// Fingerprint of what was applied (rendered values, charts): differs → outdated.
    pub hash: Option<String>,
    /// The image digest the version was deployed with.
    pub digest: Option<String>,
    /// When a user deployed (or redeployed, or extended) it: the lifetime counts from here.
    pub started_at: Option<DateTimeUtc>,
    /// When the last apply finished.
    pub applied_at: Option<DateTimeUtc>,
    /// When the scheduler stops it; `None`: never.
    pub stop_at: Option<DateTimeUtc>,
    /// JSON list of the objects applied (`cluster::apply::ObjectRef`), for pruning and stopping.
    pub inventory: Option<String>,
    /// JSON map `Kind/name` → `metadata.generation` of the workloads as O-Neko applied them.
    pub applied_generations: Option<String>,
    /// What changed in the cluster outside O-Neko since the last apply (empty: nothing seen).
    pub drift: String,
    /// The server replica acting on this version, and until when its claim holds.
    pub lease_owner: Option<String>,
    pub lease_until: Option<DateTimeUtc>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
