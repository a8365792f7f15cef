//! What editing projects and the scheduler need of the deployer, as a narrow port: they depend
//! on this trait, `deploy` implements it, so none of them depends on another.

use super::request::Request;
use crate::db::entity::{deployment, project, project_version};
use app::{error::AppError, model::DeployStatus};

/// The deployments of versions, as projects and the scheduler see them.
#[async_trait::async_trait]
pub trait DeployPort: Send + Sync {
    /// A version's status, "outdated" computed from its current configuration.
    async fn full_status(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<DeployStatus, AppError>;

    /// Records a deploy or stop request and wakes the worker.
    async fn request(&self, r: Request<'_>) -> Result<DeployStatus, AppError>;

    /// The cluster's client; a conflict when there is no cluster.
    fn client(&self) -> Result<kube::Client, AppError>;

    /// A project's (or version's) lifetime changed: running versions get their new stop time.
    async fn lifetime_changed(&self, project_id: i64) -> Result<(), AppError>;

    /// Something is due (a deleted project's versions to stop): look now, not at the next tick.
    fn wake(&self);

    /// The cluster's Kubernetes version, for rendering charts as a deploy would.
    async fn kube_version(&self) -> Option<String>;
}
