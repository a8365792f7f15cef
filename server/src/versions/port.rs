//! What editing projects needs of the deployer, as a narrow port: `projects` depends on this
//! trait, `deploy` implements it, so neither module depends on the other.

use crate::db::entity::{deployment, project, project_version};
use app::{
    error::AppError,
    model::{DeployStatus, VersionId},
};

/// The deployments of versions, as projects see them.
#[async_trait::async_trait]
pub trait DeployPort: Send + Sync {
    /// A version's status, "outdated" computed from its current configuration.
    async fn full_status(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<DeployStatus, AppError>;

    /// Asks for a version to be stopped, on behalf of the user `actor`, for `reason`.
    async fn request_stop(&self, actor: &str, id: VersionId, reason: &str) -> Result<DeployStatus, AppError>;

    /// A project's (or version's) lifetime changed: running versions get their new stop time.
    async fn lifetime_changed(&self, project_id: i64) -> Result<(), AppError>;

    /// Something is due (a deleted project's versions to stop): look now, not at the next tick.
    fn wake(&self);

    /// The cluster's Kubernetes version, for rendering charts as a deploy would.
    async fn kube_version(&self) -> Option<String>;
}
