//! ③ Deploying and stopping versions. A request only records what is wanted (the version's
//! `deployed` flag and a bumped generation on its `deployments` row) and returns; a worker
//! carries it out in the background (`pipeline`), holding a database lease on the version so
//! that no two replicas act on it at once. Everything needed to finish lives in the database,
//! so a restart (or a crash) picks up unfinished requests where they are. Between requests the
//! version's state comes from the cluster watchers (`cluster::watch`).
//!
//! One concern per file: `request` (recording a request; the pure `decide`), `worker` (leases,
//! running requests), `pipeline` (the steps against the cluster), `outcome` (recording results),
//! `status` (watchers and drift between requests), `deletion` (a deleted project's last rows),
//! `views` (dashboard, search, detail, logs: the read side).

mod deletion;
mod outcome;
pub mod pipeline;
mod request;
mod status;
mod views;
mod worker;

use crate::{
    activity::{self, Entry},
    cluster::{
        Cluster,
        apply::ObjectRef,
        watch::{Changed, Live, watched_workload},
    },
    db::entity::{deployment, project, project_version},
    error::Doing,
    helm::registries::SqlHelmRegistries,
    lease::{self, Lease},
    registry::SqlRegistries,
    versions::{
        config,
        request::{Action, Request, Requester, SCHEDULER},
        version_facts,
    },
};
use app::{
    error::AppError,
    model::{
        BatchOutcome, ContainerInfo, CurrentUser, DashboardRow, DashboardVariable, DeployState, DeployStatus,
        DeploymentDetail, EventInfo, Lifetime, LiveEvent, PodInfo, ProjectConfig, ProjectId, Severity,
        VersionHit, VersionId, VersionOverrides,
    },
    ssr::Deployments,
};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
    sea_query::{Expr, ExprTrait},
};
use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{Notify, Semaphore, mpsc, watch};

/// Seconds after an apply from which a workload the watchers do not see counts as deleted
/// outside O-Neko (before that it may just not have reached the watchers yet).
const DRIFT_GRACE_SECS: i64 = 10;
/// Where a deployment row holds its worker's lease.
const LEASE_COLUMNS: lease::Columns<deployment::Column> = lease::Columns {
    owner: deployment::Column::LeaseOwner,
    until: deployment::Column::LeaseUntil,
};

/// Aborts a task when dropped.
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// How deploys run.
#[derive(Clone, Debug)]
pub struct DeployConfig {
    /// Versions deployed or stopped at the same time by this replica.
    pub concurrency: usize,
    /// How long a hook, a namespace deletion or another wait may take.
    pub timeout: Duration,
    /// How long a replica's claim on a version lasts without renewal.
    pub lease: Duration,
    /// This replica's name in leases.
    pub replica: String,
    /// A link to an external log viewer, with `{namespace}`, `{pod}` and `{container}`.
    pub log_link: Option<String>,
    /// The clock lifetimes are counted with.
    pub clock: crate::versions::lifetime::Clock,
}

/// Deploys, stops, and knows what runs.
pub struct Deployer {
    pub(crate) db: DatabaseConnection,
    pub(crate) cluster: Cluster,
    pub(crate) helm: Arc<SqlHelmRegistries>,
    pub(crate) registries: Arc<SqlRegistries>,
    pub(crate) live: Arc<Live>,
    pub(crate) config: DeployConfig,
    wake: Notify,
    slots: Arc<Semaphore>,
    /// Deployments this replica is working on.
    working: Mutex<HashSet<i64>>,
    kube_version: tokio::sync::OnceCell<String>,
    /// Rendered previews (the URLs and "outdated" of every status shown).
    previews: crate::versions::render::PreviewCache,
    /// Ingress hosts per deployment, read from the API server at most every few seconds.
    ingresses: views::IngressCache,
}

/// Kubernetes timestamps (jiff) as the models' chrono ones.
fn chrono_time(t: k8s_openapi::jiff::Timestamp) -> Option<DateTime<Utc>> {
    DateTime::from_timestamp(t.as_second(), t.subsec_nanosecond().try_into().unwrap_or(0))
}

fn state_of(row: &deployment::Model) -> DeployState {
    row.state.parse().unwrap_or(DeployState::NotDeployed)
}

/// The lifetime that applies to a version: its own, else its project's.
pub fn effective_lifetime(p: &project::Model, v: &project_version::Model) -> Lifetime {
    let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
    overrides
        .lifetime
        .unwrap_or_else(|| p.lifetime.parse().unwrap_or(Lifetime::Infinite))
}

/// The objects a deployment row says were applied (empty when none, or unreadable).
fn inventory_of(row: &deployment::Model) -> Vec<ObjectRef> {
    row.inventory
        .as_deref()
        .and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or_default()
}

/// Whether a request waits to be (or is being) carried out.
fn pending(row: &deployment::Model) -> bool {
    row.generation > row.done_generation
}

/// The status pages show, from the deployment row (if any) and the version.
pub fn status_of(row: Option<&deployment::Model>, v: &project_version::Model) -> DeployStatus {
    let Some(row) = row else {
        return DeployStatus {
            desired: v.deployed,
            ..Default::default()
        };
    };
    DeployStatus {
        state: state_of(row),
        message: row.message.clone(),
        desired: v.deployed,
        queued: pending(row) && row.message.starts_with("Queued"),
        namespace: Some(row.namespace.clone()),
        requested_by: Some(row.requested_by.clone()),
        started_at: row.started_at,
        applied_at: row.applied_at,
        stop_at: row.stop_at.filter(|_| v.deployed),
        outdated: false,
        newer_image: v.deployed && row.digest.is_some() && row.digest != v.digest,
        changed_outside: Some(row.drift.clone()).filter(|d| v.deployed && !d.is_empty()),
    }
}

impl Deployer {
    pub fn new(
        db: DatabaseConnection,
        cluster: Cluster,
        helm: Arc<SqlHelmRegistries>,
        registries: Arc<SqlRegistries>,
        live: Arc<Live>,
        config: DeployConfig,
    ) -> Self {
        Deployer {
            slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
            db,
            cluster,
            helm,
            registries,
            live,
            config,
            wake: Notify::new(),
            working: Mutex::default(),
            kube_version: tokio::sync::OnceCell::new(),
            previews: Default::default(),
            ingresses: Default::default(),
        }
    }

    /// Makes the worker look for work now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// The live status channel and stores.
    pub fn live(&self) -> &Arc<Live> {
        &self.live
    }

    /// The API server's version, for `helm template --kube-version`: read once it could be read
    /// (a failed read is tried again on the next deploy, not remembered).
    pub(crate) async fn kube_version(&self) -> Option<String> {
        self.kube_version
            .get_or_try_init(|| async {
                let client = self.cluster.client().map_err(|_| ())?;
                client
                    .apiserver_version()
                    .await
                    .map(|v| v.git_version)
                    .map_err(|_| ())
            })
            .await
            .ok()
            .cloned()
    }

    async fn find(&self, id: VersionId) -> Result<(project::Model, project_version::Model), AppError> {
        let v = project_version::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .doing("reading version")?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let p = project::Entity::find_by_id(v.project_id)
            .one(&self.db)
            .await
            .doing("reading version")?
            .ok_or_else(|| AppError::not_found(format!("project {}", v.project_id)))?;
        Ok((p, v))
    }
}

#[async_trait::async_trait]
impl crate::versions::DeployPort for Deployer {
    async fn full_status(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<DeployStatus, AppError> {
        Deployer::full_status(self, p, v, row).await
    }

    async fn request(&self, r: Request<'_>) -> Result<DeployStatus, AppError> {
        Deployer::request(self, r).await
    }

    fn client(&self) -> Result<kube::Client, AppError> {
        Deployer::client(self)
    }

    async fn lifetime_changed(&self, project_id: i64) -> Result<(), AppError> {
        Deployer::lifetime_changed(self, project_id).await
    }

    fn wake(&self) {
        Deployer::wake(self)
    }

    async fn kube_version(&self) -> Option<String> {
        Deployer::kube_version(self).await
    }
}

/// A deployment row for unit tests: requested by ada at 2023-11-14 22:13:20 UTC.
#[cfg(test)]
pub(crate) fn sample_row(generation: i64, done: i64, state: DeployState) -> deployment::Model {
    let t = DateTime::from_timestamp(1_700_000_000, 0).unwrap();
    deployment::Model {
        id: 1,
        version_id: 1,
        project_id: 1,
        namespace: "on-p-v".into(),
        shared: false,
        generation,
        done_generation: done,
        requested_by: "ada".into(),
        requested_at: t,
        reason: String::new(),
        state: state.as_str().into(),
        message: String::new(),
        hash: None,
        digest: None,
        started_at: Some(t),
        applied_at: None,
        stop_at: None,
        inventory: None,
        applied_generations: None,
        drift: String::new(),
        lease_owner: None,
        lease_until: None,
        created_at: t,
        updated_at: t,
    }
}
