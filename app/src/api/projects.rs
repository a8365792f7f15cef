//! Projects and their versions: everyone views, DOERs create, edit, delete and poll.

use crate::{
    error::AppError,
    model::{PollReport, Project, ProjectId, ProjectInput, VersionPage, VersionQuery},
};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Every project with its poll status.
#[server(endpoint = "list_projects", input = Json)]
pub async fn list_projects() -> Result<Vec<Project>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.list().await
}

/// One project.
#[server(endpoint = "get_project", input = Json)]
pub async fn get_project(id: ProjectId) -> Result<Project, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.get(id).await
}

/// Creates (`id: None`) or updates a project.
#[server(endpoint = "save_project", input = Json)]
pub async fn save_project(project: ProjectInput) -> Result<Project, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.save(&me, project).await
}

/// Deletes a project that has no deployed versions.
#[server(endpoint = "delete_project", input = Json)]
pub async fn delete_project(id: ProjectId) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.delete(&me, id).await
}

/// Polls the project's image tags now and checks every version's digest.
#[server(endpoint = "poll_project", input = Json)]
pub async fn poll_project(id: ProjectId) -> Result<PollReport, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.poll_now(&me, id).await
}

/// A page of a project's versions.
#[server(endpoint = "list_versions", input = Json)]
pub async fn list_versions(query: VersionQuery) -> Result<VersionPage, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.versions(query).await
}
