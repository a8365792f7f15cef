//! `/api/v1/projects`: projects, their versions, and polling their tags.

use super::{
    ApiJsonOut, ApiPath, ApiQuery, RestState,
    auth::Caller,
    dto::{
        ErrorBody, PollResult, ProjectOut, ProjectPage, ProjectQuery, VersionFilter, VersionOut, VersionPage,
    },
    paging,
};
use app::model::{ProjectId, Role, VersionQuery, VersionSort};
use axum::{Json, extract::State};

/// Lists projects, by name.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", params(ProjectQuery),
    responses((status = 200, body = ProjectPage), (status = 401, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_projects(
    State(s): State<RestState>,
    caller: Caller,
    ApiQuery(q): ApiQuery<ProjectQuery>,
) -> ApiJsonOut<ProjectPage> {
    caller.with(Role::Viewer)?;
    let (page, per_page) = paging(q.page, q.per_page)?;
    let mut all = s.projects.list().await?;
    if let Some(name) = &q.name {
        all.retain(|p| &p.name == name);
    }
    let total = all.len() as u64;
    let items = all
        .into_iter()
        .skip(((page - 1) * per_page) as usize)
        .take(per_page as usize)
        .map(ProjectOut::from)
        .collect();
    Ok(Json(ProjectPage {
        items,
        total,
        page,
        per_page,
    }))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{id}", tag = "projects",
    params(("id" = i64, Path, description = "The project's id")),
    responses((status = 200, body = ProjectOut), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_project(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiJsonOut<ProjectOut> {
    caller.with(Role::Viewer)?;
    Ok(Json(s.projects.get(ProjectId(id)).await?.into()))
}

/// A project's versions (image tags), newest image first.
#[utoipa::path(get, path = "/api/v1/projects/{id}/versions", tag = "projects",
    params(("id" = i64, Path, description = "The project's id"), VersionFilter),
    responses((status = 200, body = VersionPage), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn list_versions(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<VersionFilter>,
) -> ApiJsonOut<VersionPage> {
    caller.with(Role::Viewer)?;
    let (page, per_page) = paging(q.page, q.per_page)?;
    let found = s
        .projects
        .versions(VersionQuery {
            project: ProjectId(id),
            filter: q.filter.unwrap_or_default(),
            include_removed: q.include_removed.unwrap_or(false),
            sort: VersionSort::Newest,
            page: page - 1,
            tag: q.tag,
            page_size: Some(per_page),
        })
        .await?;
    Ok(Json(VersionPage {
        items: found.items.into_iter().map(VersionOut::from).collect(),
        total: found.total,
        page,
        per_page: found.page_size,
    }))
}

/// Polls the project's image tags now (DOER), e.g. right after a CI pipeline pushed a tag.
#[utoipa::path(post, path = "/api/v1/projects/{id}/poll", tag = "projects",
    params(("id" = i64, Path, description = "The project's id")),
    responses((status = 200, body = PollResult), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody),
        (status = 404, body = ErrorBody), (status = 502, body = ErrorBody)),
    security(("token" = [])))]
pub async fn poll_project(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiJsonOut<PollResult> {
    let me = caller.with(Role::Doer)?;
    Ok(Json(s.projects.poll_now(me, ProjectId(id)).await?.into()))
}
