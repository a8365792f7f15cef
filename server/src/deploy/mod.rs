//! ③ Deploying and stopping versions. A request only records what is wanted (the version's
//! `deployed` flag and a bumped generation on its `deployments` row) and returns; a worker
//! carries it out in the background (`pipeline`), holding a database lease on the version so
//! that no two replicas act on it at once. Everything needed to finish lives in the database,
//! so a restart (or a crash) picks up unfinished requests where they are. Between requests the
//! version's state comes from the cluster watchers (`cluster::watch`).

pub mod pipeline;

use crate::{
    activity::{self, Entry},
    backend::internal,
    cluster::{
        Cluster,
        apply::ObjectRef,
        watch::{Changed, Live, watched_workload},
    },
    db::entity::{deployment, project, project_version},
    helm::registries::SqlHelmRegistries,
    projects::{config, version_facts},
    registry::SqlRegistries,
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

/// The actor of automatic actions.
pub const SCHEDULER: &str = "scheduler";

/// Seconds after an apply from which a workload the watchers do not see counts as deleted
/// outside O-Neko (before that it may just not have reached the watchers yet).
const DRIFT_GRACE_SECS: i64 = 10;

/// What a scheduler request expects to be unchanged since it was decided.
#[derive(Clone, Copy, Debug)]
pub struct Expect {
    /// The deployment's generation when it was read.
    pub generation: i64,
    /// A timed stop: the stop time must still be due.
    pub stop_due: bool,
}

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
    pub clock: crate::scheduler::lifetime::Clock,
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
        let db_err = |e| internal("reading version", e);
        let v = project_version::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let p = project::Entity::find_by_id(v.project_id)
            .one(&self.db)
            .await
            .map_err(db_err)?
            .ok_or_else(|| AppError::not_found(format!("project {}", v.project_id)))?;
        Ok((p, v))
    }

    /// Records a deploy (`deploy`) or stop request and wakes the worker. `user`: a person asked
    /// (a deploy then restarts the lifetime clock); otherwise `actor` is the scheduler or a
    /// webhook and `reason` says why.
    pub async fn request(
        &self,
        actor: &str,
        user: bool,
        id: VersionId,
        deploy: bool,
        reason: &str,
    ) -> Result<DeployStatus, AppError> {
        self.request_if(actor, user, id, deploy, reason, None).await
    }

    /// A request the scheduler decided on from what it read: carried out only if nothing changed
    /// since (no newer request; for a timed stop, the stop time not moved), else nothing happens.
    pub async fn request_unchanged(
        &self,
        id: VersionId,
        deploy: bool,
        reason: &str,
        expect: Expect,
    ) -> Result<DeployStatus, AppError> {
        self.request_if(SCHEDULER, false, id, deploy, reason, Some(expect))
            .await
    }

    async fn request_if(
        &self,
        actor: &str,
        user: bool,
        id: VersionId,
        deploy: bool,
        reason: &str,
        expect: Option<Expect>,
    ) -> Result<DeployStatus, AppError> {
        let db_err = |e| internal("recording the request", e);
        let (p, v) = self.find(id).await?;
        let name = format!("{}:{}", p.name, v.name);
        if deploy {
            self.cluster.client().map_err(AppError::conflict)?;
            if v.removed_at.is_some() {
                return Err(AppError::conflict(format!(
                    "{name} cannot be deployed: its tag is no longer in the registry."
                )));
            }
            if p.deleting_at.is_some() {
                return Err(AppError::conflict(format!(
                    "{name} cannot be deployed: project {} is being deleted.",
                    p.name
                )));
            }
        }
        // Where a first deploy goes, read before the write transaction: a transaction that
        // waited for a second pooled connection while holding SQLite's write lock could starve.
        let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
        let facts = version_facts(&self.db, &p, &v, &overrides).await?;
        let txn = crate::db::begin_write(&self.db).await.map_err(db_err)?;
        // Locked for the transaction on PostgreSQL (SQLite's IMMEDIATE transaction already
        // serialises writers), so two requests never both bump from the same generation.
        let v = project_version::Entity::find_by_id(v.id)
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(db_err)?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let row = deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(v.id))
            .lock_exclusive()
            .one(&txn)
            .await
            .map_err(db_err)?;
        let now = Utc::now();
        if let Some(e) = expect {
            let changed = match &row {
                None => true,
                Some(r) => r.generation != e.generation || (e.stop_due && r.stop_at.is_none_or(|t| t > now)),
            };
            if changed {
                return Ok(status_of(row.as_ref(), &v));
            }
        }
        let verb = if deploy { "deployed" } else { "stopped" };
        let (queued, message) = match &row {
            None if !deploy => return Ok(status_of(None, &v)),
            Some(r) if pending(r) && v.deployed == deploy => {
                return Err(AppError::conflict(format!(
                    "{name} is already being {verb} (asked by {} at {}); wait until that is done.",
                    r.requested_by,
                    r.requested_at.format("%H:%M:%S UTC")
                )));
            }
            Some(r) if pending(r) => (
                true,
                format!(
                    "Queued: to be {verb} once the {} in progress is done",
                    if deploy { "stop" } else { "deploy" }
                ),
            ),
            Some(r) if !deploy && !v.deployed && state_of(r) == DeployState::NotDeployed => {
                return Ok(status_of(Some(r), &v));
            }
            _ => (
                false,
                if deploy {
                    "Waiting to be deployed"
                } else {
                    "Waiting to be stopped"
                }
                .to_string(),
            ),
        };
        let state = if deploy {
            DeployState::Deploying
        } else {
            DeployState::Stopping
        };
        let saved = match row {
            None => deployment::ActiveModel {
                version_id: Set(v.id),
                project_id: Set(p.id),
                namespace: Set(facts
                    .namespace
                    .clone()
                    .unwrap_or_else(|| config::version_namespace(&p.name, &v.name))),
                shared: Set(facts.namespace.is_some()),
                generation: Set(1),
                done_generation: Set(0),
                requested_by: Set(actor.to_owned()),
                requested_at: Set(now),
                reason: Set(reason.to_owned()),
                state: Set(state.as_str().into()),
                message: Set(message),
                started_at: Set(Some(now)),
                stop_at: Set(crate::scheduler::lifetime::stop_at(
                    effective_lifetime(&p, &v),
                    now,
                    &self.config.clock,
                )),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(&txn)
            .await
            .map_err(db_err)?,
            Some(r) => {
                let mut am: deployment::ActiveModel = r.clone().into();
                am.generation = Set(r.generation + 1);
                am.requested_by = Set(actor.to_owned());
                am.requested_at = Set(now);
                am.reason = Set(reason.to_owned());
                if !queued {
                    am.state = Set(state.as_str().into());
                }
                am.message = Set(message);
                // A person's deploy restarts the lifetime; automatic redeploys do not.
                if deploy && user {
                    am.started_at = Set(Some(now));
                    am.stop_at = Set(crate::scheduler::lifetime::stop_at(
                        effective_lifetime(&p, &v),
                        now,
                        &self.config.clock,
                    ));
                }
                am.updated_at = Set(now);
                am.update(&txn).await.map_err(db_err)?
            }
        };
        if v.deployed != deploy {
            let mut am: project_version::ActiveModel = v.clone().into();
            am.deployed = Set(deploy);
            am.updated_at = Set(now);
            am.update(&txn).await.map_err(db_err)?;
        }
        txn.commit().await.map_err(db_err)?;
        let mut v = v;
        v.deployed = deploy;
        let status = status_of(Some(&saved), &v);
        self.live.publish(LiveEvent {
            project: ProjectId(p.id),
            version: id,
            status: status.clone(),
        });
        self.wake.notify_one();
        Ok(status)
    }

    /// Extends a deployed version's life: by its lifetime again from now, or to `until`.
    pub async fn extend(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        until: Option<DateTime<Utc>>,
    ) -> Result<DeployStatus, AppError> {
        let db_err = |e| internal("extending", e);
        let (p, v) = self.find(id).await?;
        let name = format!("{}:{}", p.name, v.name);
        let row = self.row(v.id).await?.filter(|_| v.deployed).ok_or_else(|| {
            AppError::conflict(format!("{name} is not deployed, so there is nothing to extend."))
        })?;
        let now = Utc::now();
        let (started, stop_at) = match until {
            Some(t) if t <= now => {
                return Err(AppError::invalid("until", "Choose a moment in the future."));
            }
            Some(t) if t > now + chrono::Duration::days(366) => {
                return Err(AppError::invalid("until", "At most a year from now."));
            }
            Some(t) => (row.started_at, Some(t)),
            None => (
                Some(now),
                crate::scheduler::lifetime::stop_at(effective_lifetime(&p, &v), now, &self.config.clock),
            ),
        };
        let txn = crate::db::begin_write(&self.db).await.map_err(db_err)?;
        let mut am: deployment::ActiveModel = row.into();
        am.started_at = Set(started);
        am.stop_at = Set(stop_at);
        am.updated_at = Set(now);
        let saved = am.update(&txn).await.map_err(db_err)?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.username,
                kind: "version.extended",
                subject: &name,
                message: match stop_at {
                    Some(t) => format!("{name} now stops at {}", t.format("%Y-%m-%d %H:%M UTC")),
                    None => format!("{name} now runs until it is stopped"),
                },
                severity: Severity::Info,
                project: Some(p.id),
            },
        )
        .await
        .map_err(db_err)?;
        txn.commit().await.map_err(db_err)?;
        let status = self.full_status(&p, &v, Some(&saved)).await?;
        self.live.publish(LiveEvent {
            project: ProjectId(p.id),
            version: id,
            status: status.clone(),
        });
        Ok(status)
    }

    /// A project's or version's lifetime setting changed: the deployed versions' stop times
    /// follow it (counted from when they were deployed).
    pub async fn lifetime_changed(&self, project_id: i64) -> Result<(), AppError> {
        let db_err = |e| internal("updating stop times", e);
        let Some(p) = project::Entity::find_by_id(project_id)
            .one(&self.db)
            .await
            .map_err(db_err)?
        else {
            return Ok(());
        };
        let rows = deployment::Entity::find()
            .filter(deployment::Column::ProjectId.eq(project_id))
            .all(&self.db)
            .await
            .map_err(db_err)?;
        for row in rows {
            let Some(v) = project_version::Entity::find_by_id(row.version_id)
                .one(&self.db)
                .await
                .map_err(db_err)?
                .filter(|v| v.deployed)
            else {
                continue;
            };
            let Some(started) = row.started_at else { continue };
            let stop_at =
                crate::scheduler::lifetime::stop_at(effective_lifetime(&p, &v), started, &self.config.clock);
            if stop_at != row.stop_at {
                let mut am: deployment::ActiveModel = row.into();
                am.stop_at = Set(stop_at);
                am.update(&self.db).await.map_err(db_err)?;
            }
        }
        Ok(())
    }

    /// Carries out requests until `stop` turns true: every pending deployment whose lease is
    /// free is worked on, a few at a time. Also turns cluster changes into status updates.
    pub async fn run(
        self: Arc<Self>,
        mut stop: watch::Receiver<bool>,
        changed: mpsc::UnboundedReceiver<Changed>,
    ) {
        tokio::spawn(self.clone().follow_cluster(changed, stop.clone()));
        loop {
            match self.claimable().await {
                Ok(ids) => {
                    for id in ids {
                        if !self.working.lock().unwrap().insert(id) {
                            continue;
                        }
                        let me = self.clone();
                        let mut stop = stop.clone();
                        tokio::spawn(async move {
                            // On shutdown the work is dropped where it is, as in a crash: the
                            // request stays pending and is carried out after the restart.
                            tokio::select! {
                                r = me.clone().work_on(id) => if let Err(e) = r {
                                    tracing::warn!(deployment = id, error = %e, "deployment work failed; retried later");
                                },
                                _ = stop.changed() => {}
                            }
                            me.working.lock().unwrap().remove(&id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading pending deployments failed"),
            }
            if let Err(e) = self.finish_deletions().await {
                tracing::warn!(error = %e, "finishing project deletions failed");
            }
            self.refresh_transitional().await;
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(2)) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Pending deployments no other replica holds.
    async fn claimable(&self) -> Result<Vec<i64>, sea_orm::DbErr> {
        let now = Utc::now();
        let rows = deployment::Entity::find()
            .filter(
                Expr::col(deployment::Column::Generation).gt(Expr::col(deployment::Column::DoneGeneration)),
            )
            .filter(
                Condition::any()
                    .add(deployment::Column::LeaseUntil.is_null())
                    .add(deployment::Column::LeaseUntil.lt(now))
                    .add(deployment::Column::LeaseOwner.eq(self.config.replica.clone())),
            )
            .order_by_asc(deployment::Column::RequestedAt)
            .select_only()
            .column(deployment::Column::Id)
            .into_tuple::<i64>()
            .all(&self.db)
            .await?;
        Ok(rows)
    }

    /// Claims (or renews) the lease on a deployment; false when another replica holds it.
    async fn take_lease(&self, id: i64) -> Result<bool, sea_orm::DbErr> {
        let now = Utc::now();
        let until =
            now + chrono::Duration::from_std(self.config.lease).unwrap_or(chrono::Duration::seconds(30));
        let res = deployment::Entity::update_many()
            .col_expr(
                deployment::Column::LeaseOwner,
                Expr::value(self.config.replica.clone()),
            )
            .col_expr(deployment::Column::LeaseUntil, Expr::value(until))
            .filter(deployment::Column::Id.eq(id))
            .filter(
                Condition::any()
                    .add(deployment::Column::LeaseUntil.is_null())
                    .add(deployment::Column::LeaseUntil.lt(now))
                    .add(deployment::Column::LeaseOwner.eq(self.config.replica.clone())),
            )
            .exec(&self.db)
            .await?;
        Ok(res.rows_affected == 1)
    }

    async fn release_lease(&self, id: i64) -> Result<(), sea_orm::DbErr> {
        deployment::Entity::update_many()
            .col_expr(
                deployment::Column::LeaseOwner,
                Expr::value(Option::<String>::None),
            )
            .col_expr(
                deployment::Column::LeaseUntil,
                Expr::value(Option::<DateTime<Utc>>::None),
            )
            .filter(deployment::Column::Id.eq(id))
            .filter(deployment::Column::LeaseOwner.eq(self.config.replica.clone()))
            .exec(&self.db)
            .await
            .map(|_| ())
    }

    /// Works on one deployment while holding its lease, until no request is left.
    async fn work_on(self: Arc<Self>, id: i64) -> Result<(), sea_orm::DbErr> {
        let _slot = self.slots.clone().acquire_owned().await;
        if !self.take_lease(id).await? {
            return Ok(());
        }
        // Renew the claim while working; a replica that dies (or drops this work) lets it expire,
        // and one that loses it stops working on it at once.
        let (lost_tx, lost_rx) = tokio::sync::oneshot::channel::<()>();
        let _renew = AbortOnDrop({
            let me = self.clone();
            let every = self.config.lease / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match me.take_lease(id).await {
                        Ok(true) => {}
                        Ok(false) => {
                            tracing::error!(
                                deployment = id,
                                "lost the lease on a deployment; stopping work on it"
                            );
                            let _ = lost_tx.send(());
                            return;
                        }
                        Err(e) => tracing::warn!(deployment = id, error = %e, "renewing a lease failed"),
                    }
                }
            })
        });
        let result = tokio::select! {
            r = self.work_loop(id) => r,
            _ = lost_rx => return Ok(()),
        };
        self.release_lease(id).await?;
        result
    }

    async fn work_loop(&self, id: i64) -> Result<(), sea_orm::DbErr> {
        loop {
            let Some(row) = deployment::Entity::find_by_id(id).one(&self.db).await? else {
                return Ok(());
            };
            if !pending(&row) {
                return Ok(());
            }
            let Some(v) = project_version::Entity::find_by_id(row.version_id)
                .one(&self.db)
                .await?
            else {
                return Ok(());
            };
            let Some(p) = project::Entity::find_by_id(row.project_id).one(&self.db).await? else {
                return Ok(());
            };
            let generation = row.generation;
            let started = std::time::Instant::now();
            if v.deployed {
                self.progress(&row, DeployState::Deploying, "Deploying").await?;
                let result = pipeline::deploy(self, &p, &v, &row).await;
                crate::metrics::global().operation("deploy", result.is_ok(), started.elapsed());
                self.finish_deploy(&p, &v, row, generation, result).await?;
            } else {
                self.progress(&row, DeployState::Stopping, "Stopping").await?;
                let result = pipeline::stop(self, &row).await;
                crate::metrics::global().operation("stop", result.is_ok(), started.elapsed());
                self.finish_stop(&p, &v, row, generation, result).await?;
            }
        }
    }

    /// Shows a step of the work in progress (in the database and on every open page).
    pub(crate) async fn progress(
        &self,
        row: &deployment::Model,
        state: DeployState,
        message: &str,
    ) -> Result<(), sea_orm::DbErr> {
        deployment::Entity::update_many()
            .col_expr(deployment::Column::State, Expr::value(state.as_str()))
            .col_expr(deployment::Column::Message, Expr::value(message))
            .col_expr(deployment::Column::UpdatedAt, Expr::value(Utc::now()))
            .filter(deployment::Column::Id.eq(row.id))
            .exec(&self.db)
            .await?;
        self.publish_stored(row.id).await;
        Ok(())
    }

    /// Sends the version's stored status to every open page.
    async fn publish_stored(&self, row_id: i64) {
        if let Ok(Some(row)) = deployment::Entity::find_by_id(row_id).one(&self.db).await
            && let Ok(Some(v)) = project_version::Entity::find_by_id(row.version_id)
                .one(&self.db)
                .await
        {
            self.live.publish(LiveEvent {
                project: ProjectId(row.project_id),
                version: VersionId(row.version_id),
                status: status_of(Some(&row), &v),
            });
        }
    }

    /// Stores the pending inventory before anything is applied, so a crash leaves nothing unknown.
    pub(crate) async fn save_inventory(
        &self,
        row: &deployment::Model,
        refs: &[ObjectRef],
        namespace: &str,
        shared: bool,
    ) -> Result<(), String> {
        let json = serde_json::to_string(refs).map_err(|e| e.to_string())?;
        deployment::Entity::update_many()
            .col_expr(deployment::Column::Inventory, Expr::value(json))
            .col_expr(deployment::Column::Namespace, Expr::value(namespace))
            .col_expr(deployment::Column::Shared, Expr::value(shared))
            .filter(deployment::Column::Id.eq(row.id))
            .exec(&self.db)
            .await
            .map(|_| ())
            .map_err(|e| format!("saving the inventory failed: {e}"))
    }

    /// Records the end of the work on a request: its generation done, what `outcome` sets
    /// (given whether a newer request waits, and the request carried out), and the activity entry
    /// it returns, in one transaction; then shows the result.
    async fn finish(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: deployment::Model,
        generation: i64,
        outcome: impl FnOnce(
            &mut deployment::ActiveModel,
            bool,
            &deployment::Model,
            &str,
        ) -> (&'static str, String, Severity),
    ) -> Result<(), sea_orm::DbErr> {
        let txn = crate::db::begin_write(&self.db).await?;
        let Some(fresh) = deployment::Entity::find_by_id(row.id).one(&txn).await? else {
            return Ok(());
        };
        // Another replica took the work over: its result counts, not this one's.
        if fresh.lease_owner.as_deref() != Some(self.config.replica.as_str())
            || fresh.done_generation >= generation
        {
            return Ok(());
        }
        let subject = format!("{}:{}", p.name, v.name);
        let mut am: deployment::ActiveModel = fresh.clone().into();
        am.done_generation = Set(generation);
        am.updated_at = Set(Utc::now());
        // The request carried out is the one read when the work began (a newer one may wait).
        let (kind, mut message, severity) = outcome(&mut am, fresh.generation > generation, &row, &subject);
        if !row.reason.is_empty() {
            message.push_str(&format!(" ({})", row.reason));
        }
        am.update(&txn).await?;
        activity::record(
            &txn,
            Entry {
                actor: &row.requested_by,
                kind,
                subject: &subject,
                message,
                severity,
                project: Some(p.id),
            },
        )
        .await?;
        txn.commit().await?;
        self.publish_stored(row.id).await;
        self.refresh(v.id).await;
        Ok(())
    }

    async fn finish_deploy(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: deployment::Model,
        generation: i64,
        result: Result<pipeline::Deployed, pipeline::Failure>,
    ) -> Result<(), sea_orm::DbErr> {
        self.finish(p, v, row, generation, |am, requeued, _, subject| match result {
            Ok(d) => {
                am.namespace = Set(d.namespace.clone());
                am.shared = Set(d.shared);
                am.hash = Set(Some(d.hash));
                am.digest = Set(d.digest);
                am.applied_at = Set(Some(Utc::now()));
                am.inventory = Set(Some(serde_json::to_string(&d.inventory).unwrap_or_default()));
                am.applied_generations = Set(Some(serde_json::to_string(&d.generations).unwrap_or_default()));
                am.drift = Set(String::new());
                if !requeued {
                    am.state = Set(DeployState::Deploying.as_str().into());
                    am.message = Set("Applied; waiting for the workloads".into());
                }
                let mut message = format!(
                    "{subject} deployed into {}: {} objects applied",
                    d.namespace,
                    d.inventory.len()
                );
                if d.pruned > 0 {
                    message.push_str(&format!(", {} no longer rendered removed", d.pruned));
                }
                if !d.skipped_hooks.is_empty() {
                    message.push_str(&format!("; hooks not run: {}", d.skipped_hooks.join(", ")));
                }
                ("version.deployed", message, Severity::Info)
            }
            Err(f) => {
                if !requeued {
                    am.state = Set(DeployState::Failed.as_str().into());
                    am.message = Set(f.message.clone());
                }
                if let Some(inv) = f.inventory {
                    am.inventory = Set(Some(serde_json::to_string(&inv).unwrap_or_default()));
                }
                (
                    "version.deploy_failed",
                    format!("Deploying {subject} failed: {}", f.message),
                    Severity::Error,
                )
            }
        })
        .await
    }

    async fn finish_stop(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: deployment::Model,
        generation: i64,
        result: Result<(), pipeline::Failure>,
    ) -> Result<(), sea_orm::DbErr> {
        self.finish(p, v, row, generation, |am, requeued, req, subject| match result {
            Ok(()) => {
                am.inventory = Set(None);
                am.applied_generations = Set(None);
                am.drift = Set(String::new());
                am.applied_at = Set(None);
                am.hash = Set(None);
                am.digest = Set(None);
                am.stop_at = Set(None);
                if !requeued {
                    am.state = Set(DeployState::NotDeployed.as_str().into());
                    am.message = Set(String::new());
                }
                let message = if req.shared {
                    format!(
                        "{subject} stopped: its objects were removed from {}",
                        req.namespace
                    )
                } else {
                    format!("{subject} stopped: namespace {} deleted", req.namespace)
                };
                ("version.stopped", message, Severity::Info)
            }
            Err(f) => {
                if !requeued {
                    am.state = Set(DeployState::Failed.as_str().into());
                    am.message = Set(format!("Stopping failed: {}", f.message));
                }
                (
                    "version.stop_failed",
                    format!("Stopping {subject} failed: {}", f.message),
                    Severity::Error,
                )
            }
        })
        .await
    }

    /// Turns cluster changes into status updates, a burst at a time.
    async fn follow_cluster(
        self: Arc<Self>,
        mut changed: mpsc::UnboundedReceiver<Changed>,
        mut stop: watch::Receiver<bool>,
    ) {
        loop {
            let first = tokio::select! {
                c = changed.recv() => c,
                _ = stop.changed() => return,
            };
            let Some(first) = first else { return };
            // Collect what else arrives in the next moment: one refresh per version.
            let mut all = first == Changed::All;
            let mut versions = HashSet::new();
            if let Changed::Version(v) = first {
                versions.insert(v);
            }
            let deadline = tokio::time::Instant::now() + Duration::from_millis(100);
            while let Ok(Some(c)) = tokio::time::timeout_at(deadline, changed.recv()).await {
                match c {
                    Changed::All => all = true,
                    Changed::Version(v) => {
                        versions.insert(v);
                    }
                }
            }
            if all {
                match deployment::Entity::find()
                    .select_only()
                    .column(deployment::Column::VersionId)
                    .into_tuple::<i64>()
                    .all(&self.db)
                    .await
                {
                    Ok(ids) => versions.extend(ids),
                    Err(e) => tracing::warn!(error = %e, "reading deployments failed"),
                }
            }
            for v in versions {
                self.refresh(v).await;
            }
        }
    }

    /// Versions settled in a passing state ("deploying" while workloads roll out) are looked at
    /// again on every worker round, so a missed event or a failed write cannot leave one there.
    async fn refresh_transitional(&self) {
        let rows = deployment::Entity::find()
            .filter(deployment::Column::State.eq(DeployState::Deploying.as_str()))
            .filter(
                Expr::col(deployment::Column::Generation).eq(Expr::col(deployment::Column::DoneGeneration)),
            )
            .select_only()
            .column(deployment::Column::VersionId)
            .into_tuple::<i64>()
            .all(&self.db)
            .await;
        match rows {
            Ok(ids) => {
                for v in ids {
                    self.refresh(v).await;
                }
            }
            Err(e) => tracing::warn!(error = %e, "reading deployments failed"),
        }
    }

    /// Recomputes a settled version's state from the cluster; stores and publishes a change.
    pub async fn refresh(&self, version: i64) {
        let Ok(Some(row)) = deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(version))
            .one(&self.db)
            .await
        else {
            return;
        };
        let Ok(Some(v)) = project_version::Entity::find_by_id(version).one(&self.db).await else {
            return;
        };
        if pending(&row) {
            return;
        }
        let current = state_of(&row);
        let mut drift = row.drift.clone();
        let (state, message) = if current == DeployState::Failed {
            // A failed deploy or stop stays failed until the next request.
            return;
        } else if !v.deployed {
            (DeployState::NotDeployed, String::new())
        } else if !self.live.workloads_listed() {
            // Right after a start the watchers have not listed the cluster yet: nothing to judge.
            return;
        } else {
            // Until the watchers have seen every workload applied, it is not running yet.
            let expected: Vec<String> = row
                .inventory
                .as_deref()
                .and_then(|i| serde_json::from_str::<Vec<ObjectRef>>(i).ok())
                .unwrap_or_default()
                .iter()
                // Jobs may be deleted once done (ttlSecondsAfterFinished): not waited for.
                .filter(|r| watched_workload(&r.api_version, &r.kind))
                .map(ObjectRef::describe)
                .collect();
            let seen = self.live.generations(version);
            let missing: Vec<&str> = expected
                .iter()
                .filter(|e| !seen.contains_key(*e))
                .map(String::as_str)
                .collect();
            let settled_for = row.applied_at.map(|t| Utc::now() - t);
            if missing.is_empty() {
                drift = Self::drift(&row, &seen);
                self.live.health(version)
            } else if settled_for.is_some_and(|d| d > chrono::Duration::seconds(DRIFT_GRACE_SECS)) {
                // Long since applied and not (or no longer) there: deleted behind O-Neko's back.
                let gone = missing.join(", ");
                drift = format!("{gone} deleted outside O-Neko");
                (
                    DeployState::Degraded,
                    format!("{gone} missing: deleted outside O-Neko; redeploy to restore"),
                )
            } else {
                (
                    DeployState::Deploying,
                    "Applied; waiting for the workloads".to_string(),
                )
            }
        };
        if state == current && message == row.message && drift == row.drift {
            return;
        }
        // A change outside O-Neko goes to the activity log once: in the transaction that records
        // it, and only if no other replica recorded this very change first.
        let newly_changed = !drift.is_empty() && drift != row.drift;
        let project_name = if newly_changed {
            project::Entity::find_by_id(row.project_id)
                .one(&self.db)
                .await
                .ok()
                .flatten()
                .map(|p| p.name)
        } else {
            None
        };
        let recorded = async {
            let txn = crate::db::begin_write(&self.db).await?;
            let updated = deployment::Entity::update_many()
                .col_expr(deployment::Column::State, Expr::value(state.as_str()))
                .col_expr(deployment::Column::Message, Expr::value(message.clone()))
                .col_expr(deployment::Column::Drift, Expr::value(drift.clone()))
                .filter(deployment::Column::Id.eq(row.id))
                .filter(deployment::Column::DoneGeneration.eq(row.generation))
                .filter(deployment::Column::Generation.eq(row.generation))
                .filter(deployment::Column::State.eq(row.state.clone()))
                .filter(deployment::Column::Message.eq(row.message.clone()))
                .filter(deployment::Column::Drift.eq(row.drift.clone()))
                .exec(&txn)
                .await?;
            if updated.rows_affected != 1 {
                return Ok::<bool, sea_orm::DbErr>(false);
            }
            if let Some(name) = &project_name {
                let subject = format!("{name}:{}", v.name);
                activity::record(
                    &txn,
                    Entry {
                        actor: SCHEDULER,
                        kind: "version.changed_outside",
                        subject: &subject,
                        message: format!(
                            "{subject}: {drift}; a redeploy applies O-Neko's configuration again"
                        ),
                        severity: Severity::Warning,
                        project: Some(row.project_id),
                    },
                )
                .await?;
            }
            txn.commit().await?;
            Ok(true)
        }
        .await;
        match recorded {
            Ok(true) => {
                let mut row = row;
                row.state = state.as_str().into();
                row.message = message;
                row.drift = drift;
                self.live.publish(LiveEvent {
                    project: ProjectId(row.project_id),
                    version: VersionId(version),
                    status: status_of(Some(&row), &v),
                });
            }
            Ok(false) => {}
            Err(e) => tracing::warn!(version, error = %e, "recording a version's state failed"),
        }
    }

    /// What changed outside O-Neko among the version's workloads (`live`: their generations as
    /// the watchers see them): a spec generation later than the one O-Neko applied (`kubectl
    /// edit`, `scale`, `set image`…). Empty when nothing did.
    fn drift(row: &deployment::Model, live: &HashMap<String, i64>) -> String {
        let applied: BTreeMap<String, i64> = row
            .applied_generations
            .as_deref()
            .and_then(|g| serde_json::from_str(g).ok())
            .unwrap_or_default();
        let changed: Vec<&str> = applied
            .iter()
            .filter(|(name, g)| live.get(*name).is_some_and(|now| now > *g))
            .map(|(name, _)| name.as_str())
            .collect();
        if changed.is_empty() {
            String::new()
        } else {
            format!("{} changed outside O-Neko", changed.join(", "))
        }
    }

    /// Deletes projects marked for deletion once none of their versions runs or waits.
    async fn finish_deletions(&self) -> Result<(), sea_orm::DbErr> {
        let marked = project::Entity::find()
            .filter(project::Column::DeletingAt.is_not_null())
            .all(&self.db)
            .await?;
        for p in marked {
            let rows = deployment::Entity::find()
                .filter(deployment::Column::ProjectId.eq(p.id))
                .all(&self.db)
                .await?;
            let waiting = rows.iter().any(pending);
            let busy = waiting || rows.iter().any(|d| state_of(d) != DeployState::NotDeployed);
            let deployed = project_version::Entity::find()
                .filter(project_version::Column::ProjectId.eq(p.id))
                .filter(project_version::Column::Deployed.eq(true))
                .count(&self.db)
                .await?;
            if deployed > 0 && !waiting {
                // Stops asked for at deletion but not recorded (an error, a crash): again.
                let versions = project_version::Entity::find()
                    .filter(project_version::Column::ProjectId.eq(p.id))
                    .filter(project_version::Column::Deployed.eq(true))
                    .all(&self.db)
                    .await?;
                for v in versions {
                    if let Err(e) = self
                        .request(
                            SCHEDULER,
                            false,
                            VersionId(v.id),
                            false,
                            "the project is being deleted",
                        )
                        .await
                    {
                        tracing::warn!(version = v.id, error = %e, "a stop for a project deletion was not accepted");
                    }
                }
                continue;
            }
            if busy || deployed > 0 {
                continue;
            }
            let txn = crate::db::begin_write(&self.db).await?;
            project::Entity::delete_by_id(p.id).exec(&txn).await?;
            activity::record(
                &txn,
                Entry {
                    actor: SCHEDULER,
                    kind: "project.deleted",
                    subject: &p.name,
                    message: format!(
                        "Project {} deleted with its versions, after they were stopped",
                        p.name
                    ),
                    severity: Severity::Info,
                    project: Some(p.id),
                },
            )
            .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    /// Rendered URLs and whether the deployment is outdated, for a deployed version.
    async fn rendered(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<(Vec<String>, bool), AppError> {
        let project_config: ProjectConfig =
            config::parse_stored(p.config.as_deref(), "project configuration");
        let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
        let facts = version_facts(&self.db, p, v, &overrides).await?;
        let preview = config::preview(&facts, &project_config, &overrides);
        let outdated = match row.and_then(|r| r.hash.as_deref()) {
            Some(deployed) if v.deployed => preview.hash.as_deref() != Some(deployed),
            _ => false,
        };
        Ok((preview.urls, outdated))
    }

    /// A version's full status, with "outdated" computed from its current configuration.
    pub async fn full_status(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<DeployStatus, AppError> {
        let mut status = status_of(row, v);
        // Only a deployed version can be outdated; the others need no rendering.
        if v.deployed && row.is_some_and(|r| r.hash.is_some()) {
            status.outdated = self.rendered(p, v, row).await?.1;
        }
        Ok(status)
    }

    async fn row(&self, version: i64) -> Result<Option<deployment::Model>, AppError> {
        deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(version))
            .one(&self.db)
            .await
            .map_err(|e| internal("reading deployment", e))
    }

    /// The hosts of the deployment's Ingresses as URLs (https where the Ingress has TLS for it).
    async fn ingress_urls(&self, row: &deployment::Model) -> Vec<String> {
        let Ok(client) = self.cluster.client() else {
            return vec![];
        };
        let refs: Vec<ObjectRef> = row
            .inventory
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let mut urls = vec![];
        for r in refs.iter().filter(|r| r.kind == "Ingress") {
            let api: kube::Api<k8s_openapi::api::networking::v1::Ingress> =
                kube::Api::namespaced(client.clone(), r.namespace.as_deref().unwrap_or(&row.namespace));
            let Ok(Some(ing)) = api.get_opt(&r.name).await else {
                continue;
            };
            let Some(spec) = ing.spec else { continue };
            let tls_hosts: HashSet<String> = spec
                .tls
                .iter()
                .flatten()
                .flat_map(|t| t.hosts.iter().flatten().cloned())
                .collect();
            for host in spec.rules.iter().flatten().filter_map(|r| r.host.clone()) {
                let scheme = if tls_hosts.contains(&host) {
                    "https"
                } else {
                    "http"
                };
                urls.push(format!("{scheme}://{host}"));
            }
        }
        urls
    }

    async fn events(&self, row: &deployment::Model, names: &HashSet<String>) -> Vec<EventInfo> {
        let Ok(client) = self.cluster.client() else {
            return vec![];
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::namespaced(client, &row.namespace);
        let Ok(list) = api.list(&Default::default()).await else {
            return vec![];
        };
        let mut out: Vec<EventInfo> = list
            .items
            .into_iter()
            .filter(|e| !row.shared || e.involved_object.name.as_ref().is_some_and(|n| names.contains(n)))
            .map(|e| EventInfo {
                at: e
                    .last_timestamp
                    .map(|t| t.0)
                    .or(e.event_time.map(|t| t.0))
                    .or(e.metadata.creation_timestamp.map(|t| t.0))
                    .and_then(chrono_time),
                kind: e.type_.unwrap_or_else(|| "Normal".into()),
                reason: e.reason.unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default()
                ),
                message: e.message.unwrap_or_default(),
                count: e.count.unwrap_or(1),
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.at));
        out.truncate(50);
        out
    }

    fn pod_info(&self, p: &k8s_openapi::api::core::v1::Pod, namespace: &str) -> PodInfo {
        let status = p.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        let spec_containers: Vec<String> = p
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let log_link = |container: &str| {
            self.config.log_link.as_ref().map(|t| {
                t.replace("{namespace}", namespace)
                    .replace("{pod}", &name)
                    .replace("{container}", container)
            })
        };
        let containers: Vec<ContainerInfo> = spec_containers
            .iter()
            .map(|c| {
                let st = statuses.iter().find(|s| &s.name == c);
                ContainerInfo {
                    name: c.clone(),
                    image: st.map(|s| s.image.clone()).unwrap_or_else(|| {
                        p.spec
                            .as_ref()
                            .and_then(|s| s.containers.iter().find(|x| &x.name == c))
                            .and_then(|x| x.image.clone())
                            .unwrap_or_default()
                    }),
                    image_id: st.map(|s| s.image_id.clone()).unwrap_or_default(),
                    ready: st.is_some_and(|s| s.ready),
                    restarts: st.map_or(0, |s| s.restart_count),
                    state: st
                        .and_then(|s| s.state.as_ref())
                        .map(|s| {
                            if s.running.is_some() {
                                "running".to_string()
                            } else if let Some(w) = &s.waiting {
                                format!("waiting: {}", w.reason.clone().unwrap_or_default())
                            } else if let Some(t) = &s.terminated {
                                format!(
                                    "terminated: {} (exit {})",
                                    t.reason.clone().unwrap_or_default(),
                                    t.exit_code
                                )
                            } else {
                                "unknown".into()
                            }
                        })
                        .unwrap_or_else(|| "not started".into()),
                    log_link: log_link(c),
                }
            })
            .collect();
        let problem = match crate::cluster::health::pod(p) {
            crate::cluster::health::Health::Degraded(m) => Some(m),
            _ => None,
        };
        PodInfo {
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
            ready: containers.iter().filter(|c| c.ready).count() as u32,
            total: containers.len() as u32,
            restarts: containers.iter().map(|c| c.restarts).sum(),
            problem,
            containers,
            created_at: p
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono_time(t.0)),
            name,
        }
    }

    fn dashboard_variables(
        config: &ProjectConfig,
        values: &BTreeMap<String, String>,
    ) -> Vec<DashboardVariable> {
        config
            .variables
            .iter()
            .filter(|x| x.use_values && x.show_on_dashboard)
            .map(|x| DashboardVariable {
                name: x.name.clone(),
                label: config::label(x).to_string(),
                values: x.values.clone(),
                current: values
                    .get(&x.name)
                    .cloned()
                    .unwrap_or_else(|| x.default_value.clone()),
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Deployments for Deployer {
    async fn deploy(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError> {
        self.request(&actor.username, true, id, true, "").await
    }

    async fn stop(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError> {
        self.request(&actor.username, true, id, false, "").await
    }

    async fn extend(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        until: Option<DateTime<Utc>>,
    ) -> Result<DeployStatus, AppError> {
        Deployer::extend(self, actor, id, until).await
    }

    async fn status(&self, id: VersionId) -> Result<DeployStatus, AppError> {
        let (p, v) = self.find(id).await?;
        let row = self.row(v.id).await?;
        self.full_status(&p, &v, row.as_ref()).await
    }

    async fn detail(&self, id: VersionId) -> Result<DeploymentDetail, AppError> {
        let (p, v) = self.find(id).await?;
        let row = self.row(v.id).await?;
        let (mut urls, outdated) = self.rendered(&p, &v, row.as_ref()).await?;
        let mut status = status_of(row.as_ref(), &v);
        status.outdated = outdated;
        let Some(row) = row.filter(|r| r.applied_at.is_some() || pending(r)) else {
            return Ok(DeploymentDetail {
                status,
                pods: vec![],
                events: vec![],
                urls: vec![],
                objects: vec![],
            });
        };
        let pods: Vec<PodInfo> = self
            .live
            .pods(v.id)
            .iter()
            .map(|pod| self.pod_info(pod, &row.namespace))
            .collect();
        let refs: Vec<ObjectRef> = row
            .inventory
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let mut names: HashSet<String> = refs.iter().map(|r| r.name.clone()).collect();
        names.extend(pods.iter().map(|p| p.name.clone()));
        let events = self.events(&row, &names).await;
        add_ingress_urls(&mut urls, self.ingress_urls(&row).await);
        Ok(DeploymentDetail {
            status,
            pods,
            events,
            urls,
            objects: refs.iter().map(ObjectRef::describe).collect(),
        })
    }

    async fn dashboard(
        &self,
        project: Option<ProjectId>,
        search: String,
    ) -> Result<Vec<DashboardRow>, AppError> {
        let db_err = |e| internal("reading the dashboard", e);
        let mut q = deployment::Entity::find().filter(
            Condition::any()
                .add(deployment::Column::State.ne(DeployState::NotDeployed.as_str()))
                .add(
                    Expr::col(deployment::Column::Generation)
                        .gt(Expr::col(deployment::Column::DoneGeneration)),
                ),
        );
        if let Some(p) = project {
            q = q.filter(deployment::Column::ProjectId.eq(p.0));
        }
        let rows = q.all(&self.db).await.map_err(db_err)?;
        let version_ids: Vec<i64> = rows.iter().map(|r| r.version_id).collect();
        let versions: HashMap<i64, project_version::Model> = project_version::Entity::find()
            .filter(project_version::Column::Id.is_in(version_ids))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let projects: HashMap<i64, project::Model> = project::Entity::find()
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let needle = search.trim().to_lowercase();
        // Ingress hosts, read from the cluster for every row at once (one call per Ingress).
        let mut ingress: HashMap<i64, Vec<String>> =
            futures::future::join_all(rows.iter().map(|r| async { (r.id, self.ingress_urls(r).await) }))
                .await
                .into_iter()
                .collect();
        let mut out = vec![];
        for row in &rows {
            let (Some(v), Some(p)) = (versions.get(&row.version_id), projects.get(&row.project_id)) else {
                continue;
            };
            if !needle.is_empty()
                && !v.name.to_lowercase().contains(&needle)
                && !p.name.to_lowercase().contains(&needle)
            {
                continue;
            }
            let (mut urls, outdated) = self.rendered(p, v, Some(row)).await?;
            add_ingress_urls(&mut urls, ingress.remove(&row.id).unwrap_or_default());
            let mut status = status_of(Some(row), v);
            status.outdated = outdated;
            let project_config: ProjectConfig =
                config::parse_stored(p.config.as_deref(), "project configuration");
            let overrides: VersionOverrides =
                config::parse_stored(v.overrides.as_deref(), "version overrides");
            out.push(DashboardRow {
                project: ProjectId(p.id),
                project_name: p.name.clone(),
                version: VersionId(v.id),
                version_name: v.name.clone(),
                status,
                image_created_at: v.image_created_at,
                urls,
                variables: Self::dashboard_variables(&project_config, &overrides.values),
            });
        }
        out.sort_by(|a, b| (&a.project_name, &a.version_name).cmp(&(&b.project_name, &b.version_name)));
        Ok(out)
    }

    async fn search(&self, text: String) -> Result<Vec<VersionHit>, AppError> {
        let db_err = |e| internal("searching versions", e);
        let needle = text.trim();
        if needle.is_empty() {
            return Ok(vec![]);
        }
        let projects: HashMap<i64, project::Model> = project::Entity::find()
            .filter(project::Column::DeletingAt.is_null())
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let lower = needle.to_lowercase();
        let matching_projects: Vec<i64> = projects
            .values()
            .filter(|p| p.name.to_lowercase().contains(&lower))
            .map(|p| p.id)
            .collect();
        let versions = project_version::Entity::find()
            .filter(project_version::Column::RemovedAt.is_null())
            .filter(
                Condition::any()
                    .add(project_version::Column::Name.contains(needle))
                    .add(project_version::Column::ProjectId.is_in(matching_projects)),
            )
            .order_by_asc(project_version::Column::Name)
            .limit(50)
            .all(&self.db)
            .await
            .map_err(db_err)?;
        let rows: HashMap<i64, deployment::Model> = deployment::Entity::find()
            .filter(deployment::Column::VersionId.is_in(versions.iter().map(|v| v.id).collect::<Vec<_>>()))
            .all(&self.db)
            .await
            .map_err(db_err)?
            .into_iter()
            .map(|d| (d.version_id, d))
            .collect();
        Ok(versions
            .into_iter()
            .filter_map(|v| {
                let p = projects.get(&v.project_id)?;
                Some(VersionHit {
                    project: ProjectId(p.id),
                    project_name: p.name.clone(),
                    version: VersionId(v.id),
                    state: rows.get(&v.id).map(state_of).unwrap_or_default(),
                    version_name: v.name,
                    image_created_at: v.image_created_at,
                })
            })
            .collect())
    }

    async fn logs(
        &self,
        id: VersionId,
        pod: String,
        container: String,
        tail: u32,
    ) -> Result<String, AppError> {
        let (namespace, pod, container) = self.log_target(id, &pod, &container).await?;
        let client = self.cluster.client().map_err(AppError::conflict)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &namespace);
        let params = kube::api::LogParams {
            container: Some(container),
            tail_lines: Some(i64::from(tail)),
            // The API server stops there; each line is cut as the live view cuts it.
            limit_bytes: Some(crate::live::MAX_LOG_READ as i64),
            ..Default::default()
        };
        let text = api.logs(&pod, &params).await.map_err(|e| AppError::Upstream {
            service: "Kubernetes".into(),
            message: crate::cluster::apply::api_message(&e),
        })?;
        Ok(crate::live::cut_lines(&text))
    }

    async fn batch(&self, actor: &CurrentUser, ids: Vec<VersionId>, deploy: bool) -> Vec<BatchOutcome> {
        let mut out = vec![];
        for id in ids {
            let name = match self.find(id).await {
                Ok((p, v)) => format!("{}:{}", p.name, v.name),
                Err(_) => format!("version {}", id.0),
            };
            let result = self.request(&actor.username, true, id, deploy, "").await;
            out.push(BatchOutcome {
                version: id,
                name,
                error: result.err().map(|e| e.to_string()),
            });
        }
        out
    }
}

impl Deployer {
    /// Checks that `pod` is one of the version's pods with that container; returns the namespace.
    pub async fn log_target(
        &self,
        id: VersionId,
        pod: &str,
        container: &str,
    ) -> Result<(String, String, String), AppError> {
        let row = self
            .row(id.0)
            .await?
            .ok_or_else(|| AppError::not_found(format!("a deployment of version {}", id.0)))?;
        let pods = self.live.pods(id.0);
        let p = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod))
            .ok_or_else(|| AppError::not_found(format!("pod {pod} of this version")))?;
        let known = p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .any(|c| c.name == container)
        });
        if !known {
            return Err(AppError::not_found(format!("container {container} in pod {pod}")));
        }
        Ok((row.namespace, pod.to_owned(), container.to_owned()))
    }

    /// Who may see what: the log stream's client.
    pub fn client(&self) -> Result<kube::Client, AppError> {
        self.cluster.client().map_err(AppError::conflict)
    }
}

/// Adds Ingress URLs to the rendered ones, unless a URL template names the same host already.
fn add_ingress_urls(urls: &mut Vec<String>, ingress: Vec<String>) {
    let host = |u: &str| u.split_once("://").map_or(u, |(_, h)| h).to_owned();
    for u in ingress {
        if !urls.iter().any(|x| host(x) == host(&u)) {
            urls.push(u);
        }
    }
}
