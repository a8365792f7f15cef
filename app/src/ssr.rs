//! Server-only glue: the port the server implements, and the one authorization check every
//! server function calls first. Compiled only with `ssr`, so none of it reaches the WASM bundle.

use crate::{
    error::AppError,
    model::{
        ActivityPage, ActivityQuery, ChartList, ClusterInfo, ConfigPreview, ConnectionCheck, CurrentUser,
        DefinedNamespace, DockerRegistry, DockerRegistryId, DockerRegistryInput, HelmRegistry,
        HelmRegistryId, HelmRegistryInput, HelmRegistryName, ImportReport, NewUser, PollReport, Project,
        ProjectConfig, ProjectId, ProjectImport, ProjectInput, ProjectPolicy, RegistryName, Role, User,
        UserId, UserUpdate, VersionDetail, VersionId, VersionInput, VersionPage, VersionQuery,
    },
    model::{ApiToken, CreatedApiToken, NewApiToken},
    model::{BatchOutcome, DashboardRow, DeployStatus, DeploymentDetail, VersionHit},
};
use leptos::prelude::*;
use std::{net::IpAddr, sync::Arc};
use tower_sessions::Session;

/// Session key holding the logged-in user's id and credential epoch.
pub const SESSION_USER: &str = "user";

/// Session key of a failed single sign-on's message, shown once by the login page.
pub const SESSION_LOGIN_ERROR: &str = "login_error";

/// What a session remembers about its user. `epoch` changes when the password changes, which
/// ends every other session of that user.
#[derive(Clone, Copy, Debug, serde::Serialize, serde::Deserialize)]
pub struct SessionUser {
    pub id: UserId,
    pub epoch: i64,
}

/// The users and sessions operations server functions need. Implemented by the server crate over SeaORM.
#[async_trait::async_trait]
pub trait Users: Send + Sync + 'static {
    /// Checks credentials (with login throttling per user and per client address).
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(CurrentUser, i64), AppError>;
    /// The user behind a session, if it still exists and its epoch is current.
    async fn session_user(&self, who: SessionUser) -> Result<Option<CurrentUser>, AppError>;
    async fn list_users(&self) -> Result<Vec<User>, AppError>;
    async fn create_user(&self, actor: &CurrentUser, new: NewUser) -> Result<User, AppError>;
    async fn update_user(&self, actor: &CurrentUser, update: UserUpdate) -> Result<User, AppError>;
    async fn delete_user(&self, actor: &CurrentUser, id: UserId) -> Result<(), AppError>;
    async fn reset_password(&self, actor: &CurrentUser, id: UserId, password: String)
    -> Result<(), AppError>;
    /// Changes the actor's own password; returns the new session epoch.
    async fn change_own_password(
        &self,
        actor: &CurrentUser,
        old_password: String,
        new_password: String,
    ) -> Result<i64, AppError>;
}

/// Docker registries (administration and connection checks).
#[async_trait::async_trait]
pub trait Registries: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<DockerRegistry>, AppError>;
    async fn names(&self) -> Result<Vec<RegistryName>, AppError>;
    async fn save(&self, actor: &CurrentUser, input: DockerRegistryInput)
    -> Result<DockerRegistry, AppError>;
    async fn delete(&self, actor: &CurrentUser, id: DockerRegistryId) -> Result<(), AppError>;
    async fn check(&self, id: DockerRegistryId) -> Result<ConnectionCheck, AppError>;
}

/// Helm registries (administration) and their charts (for the chart picker).
#[async_trait::async_trait]
pub trait HelmRegistries: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<HelmRegistry>, AppError>;
    async fn names(&self) -> Result<Vec<HelmRegistryName>, AppError>;
    async fn save(&self, actor: &CurrentUser, input: HelmRegistryInput) -> Result<HelmRegistry, AppError>;
    async fn delete(&self, actor: &CurrentUser, id: HelmRegistryId) -> Result<(), AppError>;
    /// The registry's charts and versions; `refresh` skips the short-lived cache.
    async fn charts(&self, id: HelmRegistryId, refresh: bool) -> Result<ChartList, AppError>;
}

/// The cluster and the namespaces an ADMIN defines in it.
#[async_trait::async_trait]
pub trait Namespaces: Send + Sync + 'static {
    async fn cluster(&self) -> ClusterInfo;
    async fn list(&self) -> Result<Vec<DefinedNamespace>, AppError>;
    async fn create(&self, actor: &CurrentUser, name: String) -> Result<DefinedNamespace, AppError>;
    async fn delete(&self, actor: &CurrentUser, id: i64) -> Result<(), AppError>;
}

/// Projects and their versions.
#[async_trait::async_trait]
pub trait Projects: Send + Sync + 'static {
    async fn list(&self) -> Result<Vec<Project>, AppError>;
    async fn get(&self, id: ProjectId) -> Result<Project, AppError>;
    async fn save(&self, actor: &CurrentUser, input: ProjectInput) -> Result<Project, AppError>;
    /// Deletes a project; with deployed versions only when `confirm`, stopping them first.
    async fn delete(&self, actor: &CurrentUser, id: ProjectId, confirm: bool) -> Result<(), AppError>;
    /// Polls the project's tags now, checking every version's digest.
    async fn poll_now(&self, actor: &CurrentUser, id: ProjectId) -> Result<PollReport, AppError>;
    async fn versions(&self, query: VersionQuery) -> Result<VersionPage, AppError>;
    async fn config(&self, id: ProjectId) -> Result<ProjectConfig, AppError>;
    async fn save_config(
        &self,
        actor: &CurrentUser,
        id: ProjectId,
        config: ProjectConfig,
    ) -> Result<ProjectConfig, AppError>;
    async fn version(&self, id: VersionId) -> Result<VersionDetail, AppError>;
    async fn save_version(&self, actor: &CurrentUser, input: VersionInput)
    -> Result<VersionDetail, AppError>;
    /// Sets dashboard select variables of a version (any role), only to allowed values.
    async fn set_select_values(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        values: std::collections::BTreeMap<String, String>,
    ) -> Result<VersionDetail, AppError>;
    /// What would be deployed for the version, rendered.
    async fn preview(&self, id: VersionId) -> Result<ConfigPreview, AppError>;
    /// Checks a template as it is typed; `Some` is the problem in words.
    async fn check_template(
        &self,
        name: String,
        content: String,
        variables: Vec<String>,
    ) -> Result<Option<String>, AppError>;
    /// The project as JSON in the original O-Neko's export format.
    async fn export(&self, id: ProjectId) -> Result<String, AppError>;
    /// Creates a project from an export.
    async fn import(&self, actor: &CurrentUser, input: ProjectImport) -> Result<ImportReport, AppError>;
    /// What the project's charts may create and where.
    async fn policy(&self, id: ProjectId) -> Result<ProjectPolicy, AppError>;
    /// Replaces the project's deployment policy (the caller checked for ADMIN).
    async fn save_policy(
        &self,
        actor: &CurrentUser,
        id: ProjectId,
        policy: ProjectPolicy,
    ) -> Result<ProjectPolicy, AppError>;
}

/// Deploying and stopping versions, and what runs.
#[async_trait::async_trait]
pub trait Deployments: Send + Sync + 'static {
    /// Asks for the version to be deployed (or redeployed); the work runs in the background.
    async fn deploy(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError>;
    /// Asks for the version to be stopped; the work runs in the background.
    async fn stop(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError>;
    /// Extends a deployed version's life: by its lifetime again from now, or to `until`.
    async fn extend(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        until: Option<chrono::DateTime<chrono::Utc>>,
    ) -> Result<DeployStatus, AppError>;
    async fn status(&self, id: VersionId) -> Result<DeployStatus, AppError>;
    /// One version as a dashboard row (status, URLs, select variables), deployed or not: what a
    /// CI pipeline polls, without the pods and events of [`Deployments::detail`].
    async fn version_row(&self, id: VersionId) -> Result<DashboardRow, AppError>;
    /// Status, pods, events and URLs of a version.
    async fn detail(&self, id: VersionId) -> Result<DeploymentDetail, AppError>;
    /// Versions that run or are on their way (the dashboard), optionally of one project or
    /// matching a text.
    async fn dashboard(
        &self,
        project: Option<ProjectId>,
        search: String,
    ) -> Result<Vec<DashboardRow>, AppError>;
    /// Versions of every project whose tag or project name contains `text`.
    async fn search(&self, text: String) -> Result<Vec<VersionHit>, AppError>;
    /// The last `tail` lines of a container's log.
    async fn logs(
        &self,
        id: VersionId,
        pod: String,
        container: String,
        tail: u32,
    ) -> Result<String, AppError>;
    /// Deploys (`deploy`) or stops several versions; each gets its own outcome.
    async fn batch(&self, actor: &CurrentUser, ids: Vec<VersionId>, deploy: bool) -> Vec<BatchOutcome> {
        let mut out = vec![];
        for id in ids {
            let result = if deploy {
                self.deploy(actor, id).await
            } else {
                self.stop(actor, id).await
            };
            out.push(BatchOutcome {
                version: id,
                name: String::new(),
                error: result.err().map(|e| e.to_string()),
            });
        }
        out
    }
}

/// The activity log.
#[async_trait::async_trait]
pub trait ActivityLog: Send + Sync + 'static {
    async fn page(&self, query: ActivityQuery) -> Result<ActivityPage, AppError>;
}

/// Personal API tokens (the REST API's credentials).
#[async_trait::async_trait]
pub trait Tokens: Send + Sync + 'static {
    /// The tokens of `owner`, or everyone's (`None`, for ADMINs).
    async fn list(&self, owner: Option<UserId>) -> Result<Vec<ApiToken>, AppError>;
    /// Creates a token for `actor`, acting with at most the actor's role.
    async fn create(&self, actor: &CurrentUser, input: NewApiToken) -> Result<CreatedApiToken, AppError>;
    /// Revokes a token: the actor's own, or anyone's for an ADMIN.
    async fn revoke(&self, actor: &CurrentUser, id: i64) -> Result<(), AppError>;
}

/// The server context every server function receives through Leptos context.
#[derive(Clone)]
pub struct ServerCtx {
    pub users: Arc<dyn Users>,
    pub tokens: Arc<dyn Tokens>,
    pub registries: Arc<dyn Registries>,
    pub activity: Arc<dyn ActivityLog>,
    pub projects: Arc<dyn Projects>,
    pub helm_registries: Arc<dyn HelmRegistries>,
    pub namespaces: Arc<dyn Namespaces>,
    pub deployments: Arc<dyn Deployments>,
    /// Which ways of logging in this server offers (fixed at start).
    pub login: LoginMethods,
}

/// Which ways of logging in the server offers.
#[derive(Clone, Copy, Debug, Default)]
pub struct LoginMethods {
    /// OpenID Connect is configured.
    pub single_sign_on: bool,
    /// Only the break-glass user may log in with a password.
    pub break_glass_only: bool,
}

fn ctx() -> Result<ServerCtx, AppError> {
    use_context::<ServerCtx>().ok_or_else(|| AppError::Internal {
        reference: "server context missing".into(),
    })
}

/// The users and authentication port.
pub fn users() -> Result<Arc<dyn Users>, AppError> {
    ctx().map(|c| c.users)
}

/// The API tokens port.
pub fn tokens() -> Result<Arc<dyn Tokens>, AppError> {
    ctx().map(|c| c.tokens)
}

/// The Docker registries port.
pub fn registries() -> Result<Arc<dyn Registries>, AppError> {
    ctx().map(|c| c.registries)
}

/// The activity log port.
pub fn activity() -> Result<Arc<dyn ActivityLog>, AppError> {
    ctx().map(|c| c.activity)
}

/// The projects port.
pub fn projects() -> Result<Arc<dyn Projects>, AppError> {
    ctx().map(|c| c.projects)
}

/// The Helm registries port.
pub fn helm_registries() -> Result<Arc<dyn HelmRegistries>, AppError> {
    ctx().map(|c| c.helm_registries)
}

/// The namespaces port.
pub fn namespaces() -> Result<Arc<dyn Namespaces>, AppError> {
    ctx().map(|c| c.namespaces)
}

/// The deployments port.
pub fn deployments() -> Result<Arc<dyn Deployments>, AppError> {
    ctx().map(|c| c.deployments)
}

/// The ways of logging in.
pub fn login_methods() -> Result<LoginMethods, AppError> {
    ctx().map(|c| c.login)
}

/// The request's session.
pub async fn session() -> Result<Session, AppError> {
    leptos_axum::extract::<Session>()
        .await
        .map_err(|e| AppError::Internal {
            reference: format!("session unavailable: {e}"),
        })
}

/// The client's address as the server resolved it for this request (the TCP peer, or behind a
/// trusted proxy the address it forwarded): a request extension set by the server's middleware.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

/// The client's address, for login throttling: the middleware's [`ClientAddr`], else the TCP
/// peer.
pub async fn client_ip() -> Option<IpAddr> {
    use axum::extract::ConnectInfo;
    if let Some(ClientAddr(ip)) =
        use_context::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<ClientAddr>().copied())
    {
        return Some(ip);
    }
    leptos_axum::extract::<ConnectInfo<std::net::SocketAddr>>()
        .await
        .ok()
        .map(|c| c.0.ip())
}

/// The user behind a session, read from the database, so a changed role or a deleted user takes
/// effect at once. The server's middleware calls this once per request and keeps the answer in
/// the request as a [`RequestUser`]; everything else asks [`current_user`].
pub async fn look_up_session_user(
    users: &dyn Users,
    session: &Session,
) -> Result<Option<CurrentUser>, AppError> {
    let who: Option<SessionUser> = session.get(SESSION_USER).await.map_err(|e| AppError::Internal {
        reference: format!("session read failed: {e}"),
    })?;
    match who {
        Some(who) => users.session_user(who).await,
        None => Ok(None),
    }
}

/// The session's user as looked up for this request (a request extension set by the server's
/// middleware before any handler runs). Page renders read it synchronously: the role gate and
/// the top bar never wait for it, and the browser receives the same value while hydrating.
#[derive(Clone, Debug)]
pub struct RequestUser(pub Result<Option<CurrentUser>, AppError>);

/// The current request's [`RequestUser`], if the middleware looked it up.
pub fn request_user() -> Option<RequestUser> {
    use_context::<axum::http::request::Parts>().and_then(|p| p.extensions.get::<RequestUser>().cloned())
}

/// The logged-in user, or `None` for an anonymous caller: the lookup the middleware made for this
/// request, or (for a request it skipped) one made now.
pub async fn current_user() -> Result<Option<CurrentUser>, AppError> {
    if let Some(RequestUser(found)) = request_user() {
        return found;
    }
    let session = session().await?;
    look_up_session_user(&*users()?, &session).await
}

/// The single authorization check: the caller must be logged in and hold at least `min`.
pub async fn authorize(min: Role) -> Result<CurrentUser, AppError> {
    let user = current_user().await?.ok_or(AppError::Unauthenticated)?;
    user.require(min)?;
    Ok(user)
}
