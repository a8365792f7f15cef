//! Projects and their versions: everyone views, DOERs create, edit, delete and poll.

use crate::{
    error::AppError,
    model::{
        ConfigPreview, ImportReport, PollReport, Project, ProjectConfig, ProjectId, ProjectImport,
        ProjectInput, ProjectPolicy, VersionDetail, VersionId, VersionInput, VersionPage, VersionQuery,
    },
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

/// Deletes a project. One with deployed versions is refused unless `confirm`: then its versions
/// are stopped first and the project goes once they are (it is marked as being deleted).
#[server(endpoint = "delete_project", input = Json)]
pub async fn delete_project(id: ProjectId, #[server(default)] confirm: bool) -> Result<(), AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.delete(&me, id, confirm).await
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

/// A project's configuration templates, variables and URL templates.
#[server(endpoint = "get_project_config", input = Json)]
pub async fn get_project_config(id: ProjectId) -> Result<ProjectConfig, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.config(id).await
}

/// Replaces a project's configuration.
#[server(endpoint = "save_project_config", input = Json)]
pub async fn save_project_config(id: ProjectId, config: ProjectConfig) -> Result<ProjectConfig, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.save_config(&me, id, config).await
}

/// A version with its project's configuration and its overrides.
#[server(endpoint = "get_version", input = Json)]
pub async fn get_version(id: VersionId) -> Result<VersionDetail, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.version(id).await
}

/// Saves a version's behaviour and overrides.
#[server(endpoint = "save_version", input = Json)]
pub async fn save_version(version: VersionInput) -> Result<VersionDetail, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.save_version(&me, version).await
}

/// Switches a version's dashboard select variables; every role may, only to allowed values.
#[server(endpoint = "set_version_select_values", input = Json)]
pub async fn set_version_select_values(
    id: VersionId,
    values: std::collections::BTreeMap<String, String>,
) -> Result<VersionDetail, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Viewer).await?;
    projects()?.set_select_values(&me, id, values).await
}

/// "Show configuration": the effective variables and rendered values of a version.
#[server(endpoint = "preview_configuration", input = Json)]
pub async fn preview_configuration(id: VersionId) -> Result<ConfigPreview, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.preview(id).await
}

/// The project as JSON in the original O-Neko's export format (version 1), plus our additions.
#[server(endpoint = "export_project", input = Json)]
pub async fn export_project(id: ProjectId) -> Result<String, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.export(id).await
}

/// Creates a project from an export; ids are not taken over, names and registries are checked.
#[server(endpoint = "import_project", input = Json)]
pub async fn import_project(import: ProjectImport) -> Result<ImportReport, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Doer).await?;
    projects()?.import(&me, import).await
}

/// Checks a configuration template while it is edited: syntax, unknown variables (beyond the
/// built-ins and `variables`) and whether it renders to a YAML mapping. `None`: no problem found.
#[server(endpoint = "check_template", input = Json)]
pub async fn check_template(
    name: String,
    content: String,
    variables: Vec<String>,
) -> Result<Option<String>, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Doer).await?;
    projects()?.check_template(name, content, variables).await
}

/// What the project's charts may create and where (everyone may read it).
#[server(endpoint = "get_project_policy", input = Json)]
pub async fn get_project_policy(id: ProjectId) -> Result<ProjectPolicy, AppError> {
    use crate::{model::Role, ssr::*};
    authorize(Role::Viewer).await?;
    projects()?.policy(id).await
}

/// Replaces what the project's charts may create and where: ADMIN only, since it decides what a
/// DOER's chart may do in the cluster.
#[server(endpoint = "save_project_policy", input = Json)]
pub async fn save_project_policy(id: ProjectId, policy: ProjectPolicy) -> Result<ProjectPolicy, AppError> {
    use crate::{model::Role, ssr::*};
    let me = authorize(Role::Admin).await?;
    projects()?.save_policy(&me, id, policy).await
}
