//! Deploying and stopping versions, the dashboard and a deployment's pods, events and logs.
//! Every role may deploy and stop (VIEWER is enough), as in the original.

use crate::{
    error::AppError,
    model::{BatchOutcome, DashboardRow, DeployStatus, DeploymentDetail, ProjectId, VersionHit, VersionId},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Deploys a version, or redeploys it in place; returns at once, the work runs in the background.
#[server(endpoint = "deploy_version", input = Json)]
pub async fn deploy_version(id: VersionId) -> Result<DeployStatus, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    deployments()?.deploy(&me, id).await
}

/// Stops a version: removes it from the cluster in the background.
#[server(endpoint = "stop_version", input = Json)]
pub async fn stop_version(id: VersionId) -> Result<DeployStatus, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    deployments()?.stop(&me, id).await
}

/// Extends a deployed version's life: by its lifetime again from now (`until: None`), or to a
/// chosen moment. Every role may, as every role may deploy.
#[server(endpoint = "extend_version", input = Json)]
pub async fn extend_version(
    id: VersionId,
    #[server(default)] until: Option<chrono::DateTime<chrono::Utc>>,
) -> Result<DeployStatus, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    deployments()?.extend(&me, id, until).await
}

/// Deploys (`deploy: true`) or stops several versions; each has its own outcome.
#[server(endpoint = "deploy_or_stop_versions", input = Json)]
pub async fn deploy_or_stop_versions(
    ids: Vec<VersionId>,
    deploy: bool,
) -> Result<Vec<BatchOutcome>, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    if ids.len() > 200 {
        return Err(AppError::invalid("ids", "At most 200 versions at once."));
    }
    Ok(deployments()?.batch(&me, ids, deploy).await)
}

/// A version's deployment: status, pods, recent events, URLs.
#[server(endpoint = "get_deployment", input = Json)]
pub async fn get_deployment(id: VersionId) -> Result<DeploymentDetail, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    deployments()?.detail(id).await
}

/// The dashboard: every version that runs (or is being deployed, stopped, or failed).
#[server(endpoint = "list_deployments", input = Json)]
pub async fn list_deployments(
    project: Option<ProjectId>,
    search: String,
) -> Result<Vec<DashboardRow>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    deployments()?.dashboard(project, search).await
}

/// Versions of any project whose tag or project name contains the text.
#[server(endpoint = "search_versions", input = Json)]
pub async fn search_versions(text: String) -> Result<Vec<VersionHit>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    deployments()?.search(text).await
}

/// The last lines of a container's log (following it live goes through `/live/logs`).
#[server(endpoint = "pod_logs", input = Json)]
pub async fn pod_logs(id: VersionId, pod: String, container: String, tail: u32) -> Result<String, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    deployments()?.logs(id, pod, container, tail.clamp(1, 5000)).await
}
