//! `project_versions`: one per image tag a project's poll found.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "project_versions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub project_id: i64,
    /// The tag.
    pub name: String,
    /// The registry's `Docker-Content-Digest` of the tag's manifest or index.
    pub digest: Option<String>,
    pub image_created_at: Option<DateTimeUtc>,
    /// When a poll last saw the tag point at a different image ("image updated at").
    pub digest_changed_at: Option<DateTimeUtc>,
    pub first_seen_at: DateTimeUtc,
    /// When the tag vanished from the registry; the version stays for its history and settings.
    pub removed_at: Option<DateTimeUtc>,
    /// Desired state: deployed. Deployed versions get their digest checked on every poll.
    pub deployed: bool,
    /// Overrides the project's redeploy policy.
    pub redeploy_policy: Option<String>,
    /// `app::model::VersionOverrides` as JSON; `None` overrides nothing.
    pub overrides: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
