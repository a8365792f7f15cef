//! `/api/v1/versions`: a version's status and URLs; deploy, redeploy, stop (optionally waiting
//! until it runs or is gone), its stop time, and its dashboard select variables.

use super::{
    ApiJson, ApiJsonOut, ApiPath, ApiQuery, RestState,
    auth::Caller,
    dto::{ErrorBody, SelectValues, StopTime, VersionView, Wait},
    error::ApiError,
};
use app::{
    error::AppError,
    model::{DeployState, DeployStatus, Role, VersionId},
};
use axum::{Json, extract::State};
use chrono::{DateTime, SubsecRound, Utc};
use std::time::Duration;

/// Longest wait a request may ask for.
const MAX_WAIT_SECS: u64 = 3600;
const DEFAULT_WAIT_SECS: u64 = 600;
/// How often a waiting request reads the status.
const WAIT_STEP: Duration = Duration::from_millis(250);

/// Where a waiting request waits for the version to get.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Goal {
    Running,
    Stopped,
}

impl Goal {
    fn name(self) -> &'static str {
        match self {
            Goal::Running => "running",
            Goal::Stopped => "stopped",
        }
    }
}

/// The goal a `wait` parameter names, if it is one this operation can reach.
fn goal(wait: &Wait, allowed: Goal) -> Result<Option<(Goal, Duration)>, ApiError> {
    let Some(name) = wait.wait.as_deref() else {
        return Ok(None);
    };
    if !name.eq_ignore_ascii_case(allowed.name()) {
        return Err(AppError::invalid(
            "wait",
            format!("This operation can wait for '{}' only.", allowed.name()),
        )
        .into());
    }
    let secs = wait.timeout.unwrap_or(DEFAULT_WAIT_SECS);
    if !(1..=MAX_WAIT_SECS).contains(&secs) {
        return Err(AppError::invalid("timeout", format!("From 1 to {MAX_WAIT_SECS} seconds.")).into());
    }
    Ok(Some((allowed, Duration::from_secs(secs))))
}

/// Whether a status settles a wait: `Some(Ok)` reached, `Some(Err)` will not get there, `None`
/// still on its way. `since` is when the request was made: a version that was already running
/// has run the request's deploy only once applied again after it.
fn settled(goal: Goal, s: &DeployStatus, since: DateTime<Utc>) -> Option<Result<(), String>> {
    if s.queued {
        return None;
    }
    match goal {
        Goal::Running if !s.desired => Some(Err("It was stopped while waiting for it to run.".into())),
        Goal::Running if s.state == DeployState::Failed => {
            Some(Err(format!("The deploy failed: {}", s.message)))
        }
        Goal::Running if s.state == DeployState::Running && s.applied_at.is_some_and(|at| at >= since) => {
            Some(Ok(()))
        }
        Goal::Stopped if s.desired => Some(Err("It was deployed again while waiting for it to stop.".into())),
        Goal::Stopped if s.state == DeployState::Failed => {
            Some(Err(format!("The stop failed: {}", s.message)))
        }
        Goal::Stopped if s.state == DeployState::NotDeployed => Some(Ok(())),
        _ => None,
    }
}

/// Waits (if asked) until the version settles, then answers with its view.
async fn answer(
    s: &RestState,
    id: VersionId,
    wait: Option<(Goal, Duration)>,
    since: DateTime<Utc>,
) -> Result<Json<VersionView>, ApiError> {
    if let Some((goal, timeout)) = wait {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let status = s.deployments.status(id).await?;
            match settled(goal, &status, since) {
                Some(Ok(())) => break,
                Some(Err(why)) => return Err(AppError::conflict(why).into()),
                None if tokio::time::Instant::now() >= deadline => {
                    return Err(AppError::conflict(format!(
                        "Not {} after {} s: {}. {}",
                        goal.name(),
                        timeout.as_secs(),
                        status.state.label(),
                        status.message
                    ))
                    .into());
                }
                None => tokio::time::sleep(WAIT_STEP).await,
            }
        }
    }
    view(s, id).await
}

/// A VIEWER's deploy (`Goal::Running`) or stop (`Goal::Stopped`), answered at once or, with
/// `wait`, once the version got there.
async fn request(
    s: &RestState,
    caller: &Caller,
    id: VersionId,
    w: &Wait,
    to: Goal,
) -> ApiJsonOut<VersionView> {
    let me = caller.with(Role::Viewer)?;
    let wait = goal(w, to)?;
    let since = now();
    match to {
        Goal::Running => s.deployments.deploy(me, id).await?,
        Goal::Stopped => s.deployments.stop(me, id).await?,
    };
    answer(s, id, wait, since).await
}

/// The version as the dashboard shows it: one read of its rows, one render.
async fn view(s: &RestState, id: VersionId) -> Result<Json<VersionView>, ApiError> {
    Ok(Json(s.deployments.version_row(id).await?.into()))
}

/// The request's time, to the second: what the database keeps of `applied_at` may be rounded.
fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(0)
}

/// A version: its deployment's status, URLs and select variables.
#[utoipa::path(get, path = "/api/v1/versions/{id}", tag = "versions",
    params(("id" = i64, Path, description = "The version's id")),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody)),
    security(("token" = [])))]
pub async fn get_version(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiJsonOut<VersionView> {
    caller.with(Role::Viewer)?;
    view(&s, VersionId(id)).await
}

/// Deploys a version (or redeploys it if it runs). With `wait=running` the answer comes once it
/// runs (200) or when it failed or the timeout passed (409, with the reason).
#[utoipa::path(post, path = "/api/v1/versions/{id}/deploy", tag = "versions",
    params(("id" = i64, Path, description = "The version's id"), Wait),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Refused, or (waiting) failed or not running in time", body = ErrorBody)),
    security(("token" = [])))]
pub async fn deploy(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(w): ApiQuery<Wait>,
) -> ApiJsonOut<VersionView> {
    request(&s, &caller, VersionId(id), &w, Goal::Running).await
}

/// Redeploys a version that is deployed (409 if it is not), e.g. to pick up changed
/// configuration. Waits like deploy.
#[utoipa::path(post, path = "/api/v1/versions/{id}/redeploy", tag = "versions",
    params(("id" = i64, Path, description = "The version's id"), Wait),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Not deployed, or (waiting) failed or not running in time", body = ErrorBody)),
    security(("token" = [])))]
pub async fn redeploy(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(w): ApiQuery<Wait>,
) -> ApiJsonOut<VersionView> {
    caller.with(Role::Viewer)?;
    if !s.deployments.status(VersionId(id)).await?.desired {
        return Err(AppError::conflict("The version is not deployed: deploy it instead.").into());
    }
    request(&s, &caller, VersionId(id), &w, Goal::Running).await
}

/// Stops a version (removes it from the cluster). With `wait=stopped` the answer comes once it
/// is gone.
#[utoipa::path(post, path = "/api/v1/versions/{id}/stop", tag = "versions",
    params(("id" = i64, Path, description = "The version's id"), Wait),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, description = "Refused, or (waiting) failed or not stopped in time", body = ErrorBody)),
    security(("token" = [])))]
pub async fn stop(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(w): ApiQuery<Wait>,
) -> ApiJsonOut<VersionView> {
    request(&s, &caller, VersionId(id), &w, Goal::Stopped).await
}

/// Extends a deployed version's life by its lifetime again, from now.
#[utoipa::path(post, path = "/api/v1/versions/{id}/extend", tag = "versions",
    params(("id" = i64, Path, description = "The version's id")),
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody)),
    security(("token" = [])))]
pub async fn extend(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
) -> ApiJsonOut<VersionView> {
    let me = caller.with(Role::Viewer)?;
    s.deployments.extend(me, VersionId(id), None).await?;
    view(&s, VersionId(id)).await
}

/// Sets when a deployed version stops.
#[utoipa::path(put, path = "/api/v1/versions/{id}/stop-time", tag = "versions",
    params(("id" = i64, Path, description = "The version's id")), request_body = StopTime,
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set_stop_time(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<StopTime>,
) -> ApiJsonOut<VersionView> {
    let me = caller.with(Role::Viewer)?;
    s.deployments.extend(me, VersionId(id), Some(body.at)).await?;
    view(&s, VersionId(id)).await
}

/// Switches dashboard select variables of a version (each to one of its allowed values). A
/// running version is redeployed with them.
#[utoipa::path(put, path = "/api/v1/versions/{id}/select-values", tag = "versions",
    params(("id" = i64, Path, description = "The version's id")), request_body = SelectValues,
    responses((status = 200, body = VersionView), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody),
        (status = 422, body = ErrorBody)),
    security(("token" = [])))]
pub async fn set_select_values(
    State(s): State<RestState>,
    caller: Caller,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<SelectValues>,
) -> ApiJsonOut<VersionView> {
    let me = caller.with(Role::Viewer)?;
    s.projects
        .set_select_values(me, VersionId(id), body.values)
        .await?;
    view(&s, VersionId(id)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: DeployState, desired: bool, applied: Option<DateTime<Utc>>) -> DeployStatus {
        DeployStatus {
            state,
            desired,
            applied_at: applied,
            message: "why".into(),
            ..Default::default()
        }
    }

    #[test]
    fn a_wait_settles_on_the_requested_state_only() {
        let since = now();
        let before = since - chrono::Duration::seconds(5);
        // Still running from before the request: the redeploy has not been applied yet.
        assert_eq!(
            settled(
                Goal::Running,
                &status(DeployState::Running, true, Some(before)),
                since
            ),
            None
        );
        assert_eq!(
            settled(
                Goal::Running,
                &status(DeployState::Running, true, Some(since)),
                since
            ),
            Some(Ok(()))
        );
        assert_eq!(
            settled(Goal::Running, &status(DeployState::Deploying, true, None), since),
            None
        );
        assert_eq!(
            settled(
                Goal::Running,
                &status(DeployState::Degraded, true, Some(since)),
                since
            ),
            None
        );
        assert!(
            matches!(settled(Goal::Running, &status(DeployState::Failed, true, None), since), Some(Err(m)) if m.contains("why"))
        );
        assert!(
            settled(Goal::Running, &status(DeployState::Stopping, false, None), since)
                .unwrap()
                .is_err()
        );
        assert_eq!(
            settled(
                Goal::Stopped,
                &status(DeployState::NotDeployed, false, None),
                since
            ),
            Some(Ok(()))
        );
        assert_eq!(
            settled(Goal::Stopped, &status(DeployState::Stopping, false, None), since),
            None
        );
        let mut queued = status(DeployState::Failed, true, None);
        queued.queued = true;
        assert_eq!(settled(Goal::Running, &queued, since), None);
    }

    #[test]
    fn wait_names_a_reachable_state() {
        let w = |wait: &str, timeout| Wait {
            wait: Some(wait.into()),
            timeout,
        };
        assert_eq!(goal(&Wait::default(), Goal::Running).unwrap(), None);
        assert_eq!(
            goal(&w("Running", None), Goal::Running).unwrap(),
            Some((Goal::Running, Duration::from_secs(600)))
        );
        assert!(goal(&w("stopped", None), Goal::Running).is_err());
        assert!(goal(&w("running", Some(0)), Goal::Running).is_err());
        assert!(goal(&w("running", Some(4000)), Goal::Running).is_err());
    }
}
