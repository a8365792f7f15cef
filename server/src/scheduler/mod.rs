//! ⑥ The scheduler: the background half of O-Neko. Exactly one server replica runs it at a time,
//! the holder of the `scheduler` lease (renewed while alive; another replica takes over once it
//! expires). Every job compares the desired state in the database with what is recorded of the
//! cluster and acts on the difference, so a restart or a crash at any moment converges and never
//! loses a due stop or a changed image:
//! - timed stops (a version whose lifetime ended is stopped),
//! - redeploys when a deployed tag's image changed (policy "automatically"),
//! - versions whose tag vanished (stopped, or kept and warned about; removed after a retention),
//! - activity retention,
//! - reconciliation (a version's namespace deleted behind O-Neko's back is redeployed, a failed
//!   stop is tried again).

use crate::{
    activity::{self, Entry},
    config::RemovedTagAction,
    db::entity::{activity as activity_entity, deployment, project, project_version},
    lease::{Leadership, Lease},
    versions::{
        DeployPort,
        request::{Action, Expect, Request, SCHEDULER},
    },
};
use app::model::{DeployState, RedeployPolicy, Severity, VersionId};
use chrono::{DateTime, Utc};
use sea_orm::{
    ActiveModelTrait,
    ActiveValue::Set,
    ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter,
    sea_query::{Expr, ExprTrait},
};
use std::{
    collections::HashMap,
    sync::Arc,
    time::{Duration, Instant},
};
use tokio::sync::watch;

/// The lease the scheduler's leader holds.
pub const LEASE: &str = "scheduler";

/// How the scheduler runs.
#[derive(Clone, Debug)]
pub struct SchedulerConfig {
    pub interval: Duration,
    /// How long the leader's claim lasts unless renewed.
    pub lease: Duration,
    pub replica: String,
    pub removed_tag_action: RemovedTagAction,
    pub removed_retention: chrono::Duration,
    pub activity_retention: chrono::Duration,
}

/// The scheduler's jobs and its lease.
pub struct Scheduler {
    db: DatabaseConnection,
    deployer: Arc<dyn DeployPort>,
    config: SchedulerConfig,
    leadership: Leadership,
}

fn short(digest: &str) -> String {
    let hex = digest.split_once(':').map_or(digest, |(_, h)| h);
    format!("sha256:{}…", &hex[..hex.len().min(12)])
}

impl Scheduler {
    pub fn new(
        db: DatabaseConnection,
        deployer: Arc<dyn DeployPort>,
        config: SchedulerConfig,
        leadership: Leadership,
    ) -> Self {
        Scheduler {
            db,
            deployer,
            config,
            leadership,
        }
    }

    /// Claims or renews the lease; true while this replica leads. A database error ends the
    /// lead at once (another replica may have taken over meanwhile).
    async fn hold_lease(&self) -> bool {
        let lease = Lease {
            replica: self.config.replica.clone(),
            length: self.config.lease,
        };
        let leader = match lease.claim_named(&self.db, LEASE).await {
            Ok(leader) => leader,
            Err(e) => {
                tracing::warn!(error = %e, "renewing the scheduler lease failed");
                false
            }
        };
        if leader != self.leadership.is_leader() {
            tracing::info!(replica = %self.config.replica, leader, "scheduler leadership changed");
        }
        self.leadership.set(leader);
        leader
    }

    /// Runs the jobs while leading, until `stop` turns true.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let tick = self.config.interval.min(self.config.lease / 3);
        let mut last_jobs: Option<Instant> = None;
        let mut last_reconcile: Option<Instant> = None;
        let mut last_purge: Option<Instant> = None;
        loop {
            if self.hold_lease().await && last_jobs.is_none_or(|t| t.elapsed() >= self.config.interval) {
                last_jobs = Some(Instant::now());
                // One read of the deployed versions serves the three jobs.
                match self.settled_deployed().await {
                    Ok(settled) => {
                        self.job("timed stops", self.timed_stops(&settled)).await;
                        self.job("redeploys on image changes", self.digest_redeploys(&settled))
                            .await;
                        self.job("removed tags", self.removed_tags(&settled)).await;
                    }
                    Err(e) => tracing::warn!(error = %e, "reading deployments failed"),
                }
                // Reconciliation reads the cluster: every sixth run (a minute by default).
                if last_reconcile.is_none_or(|t| t.elapsed() >= self.config.interval * 6) {
                    last_reconcile = Some(Instant::now());
                    self.job("reconciliation", self.reconcile()).await;
                }
                if last_purge.is_none_or(|t| t.elapsed() >= Duration::from_secs(3600)) {
                    last_purge = Some(Instant::now());
                    self.job("activity retention", self.purge_activity()).await;
                }
            }
            tokio::select! {
                _ = tokio::time::sleep(tick) => {}
                _ = stop.changed() => {
                    self.leadership.set(false);
                    return;
                }
            }
        }
    }

    /// Runs one job; a failure is logged and the next run tries again.
    async fn job(&self, name: &str, f: impl std::future::Future<Output = anyhow::Result<()>>) {
        if let Err(e) = f.await {
            tracing::warn!(job = name, error = %e, "scheduler job failed; it runs again next time");
        }
    }

    /// Deployed versions with their settled deployment rows (no request waiting).
    async fn settled_deployed(&self) -> anyhow::Result<Vec<(project_version::Model, deployment::Model)>> {
        let rows = deployment::Entity::find()
            .filter(
                Expr::col(deployment::Column::Generation).eq(Expr::col(deployment::Column::DoneGeneration)),
            )
            .all(&self.db)
            .await?;
        let ids: Vec<i64> = rows.iter().map(|r| r.version_id).collect();
        let versions: HashMap<i64, project_version::Model> = project_version::Entity::find()
            .filter(project_version::Column::Id.is_in(ids))
            .filter(project_version::Column::Deployed.eq(true))
            .all(&self.db)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        Ok(rows
            .into_iter()
            .filter_map(|r| versions.get(&r.version_id).cloned().map(|v| (v, r)))
            .collect())
    }

    /// Asks the deployer to deploy or stop a version for `reason`, carried out only if nothing
    /// changed since `row` was read (and, for a timed stop, the stop time is still due).
    async fn ask(
        &self,
        v: &project_version::Model,
        row: &deployment::Model,
        deploy: bool,
        reason: &str,
        stop_due: bool,
        what: &str,
    ) {
        let expect = Expect {
            generation: row.generation,
            stop_due,
        };
        let action = if deploy { Action::Deploy } else { Action::Stop };
        if let Err(e) = self
            .deployer
            .request(Request::automatic(VersionId(v.id), action, reason, Some(expect)))
            .await
        {
            tracing::warn!(version = v.id, error = %e, "{what} was not accepted");
        }
    }

    /// Stops versions whose lifetime ended. The due time is stored, so none is lost.
    async fn timed_stops(
        &self,
        settled: &[(project_version::Model, deployment::Model)],
    ) -> anyhow::Result<()> {
        let now = Utc::now();
        for (v, row) in settled.iter().cloned() {
            let Some(at) = row.stop_at.filter(|at| *at <= now) else {
                continue;
            };
            let reason = format!("its lifetime ended at {}", at.format("%Y-%m-%d %H:%M UTC"));
            self.ask(&v, &row, false, &reason, true, "a timed stop").await;
        }
        Ok(())
    }

    /// Redeploys deployed versions whose tag now points at another image than the one deployed,
    /// when their policy says so. Level-triggered: it compares the digest recorded at deploy time
    /// with the tag's, so a change made while the server was down is found, and a restart alone
    /// redeploys nothing.
    async fn digest_redeploys(
        &self,
        settled: &[(project_version::Model, deployment::Model)],
    ) -> anyhow::Result<()> {
        let projects: HashMap<i64, project::Model> = project::Entity::find()
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        for (v, row) in settled.iter().cloned() {
            let (Some(deployed), Some(current)) = (row.digest.as_deref(), v.digest.as_deref()) else {
                continue;
            };
            if deployed == current || v.removed_at.is_some() {
                continue;
            }
            let Some(p) = projects.get(&v.project_id) else {
                continue;
            };
            let policy: RedeployPolicy = v
                .redeploy_policy
                .as_deref()
                .or(Some(p.redeploy_policy.as_str()))
                .and_then(|s| s.parse().ok())
                .unwrap_or(RedeployPolicy::Manual);
            if policy != RedeployPolicy::Automatic {
                // "A newer image is available" shows on the version; a person redeploys.
                continue;
            }
            let reason = format!("image changed from {} to {}", short(deployed), short(current));
            // A redeploy for this very image that failed is not repeated on every run.
            if row.state == DeployState::Failed.as_str() && row.reason == reason {
                continue;
            }
            self.ask(&v, &row, true, &reason, false, "a redeploy on an image change")
                .await;
        }
        Ok(())
    }

    /// Versions whose tag vanished: a deployed one is stopped (or kept, with a warning), and
    /// after the retention the version goes; its activity history stays.
    async fn removed_tags(
        &self,
        settled: &[(project_version::Model, deployment::Model)],
    ) -> anyhow::Result<()> {
        const KEPT: &str = "its tag was removed from the registry; kept running as configured";
        for (v, row) in settled.iter().cloned() {
            if v.removed_at.is_none() {
                continue;
            }
            match self.config.removed_tag_action {
                RemovedTagAction::Stop => {
                    let reason = "its tag was removed from the registry";
                    self.ask(&v, &row, false, reason, false, "stopping a removed version")
                        .await;
                }
                RemovedTagAction::Keep if row.reason != KEPT => {
                    let txn = crate::db::begin_write(&self.db).await?;
                    let mut am: deployment::ActiveModel = row.clone().into();
                    am.reason = Set(KEPT.into());
                    am.update(&txn).await?;
                    let p = project::Entity::find_by_id(v.project_id).one(&txn).await?;
                    let subject = format!("{}:{}", p.as_ref().map_or("?", |p| p.name.as_str()), v.name);
                    activity::record(
                        &txn,
                        Entry {
                            actor: SCHEDULER,
                            kind: "version.removed_but_running",
                            subject: &subject,
                            message: format!("{subject}: {KEPT}"),
                            severity: Severity::Warning,
                            project: Some(v.project_id),
                        },
                    )
                    .await?;
                    txn.commit().await?;
                }
                RemovedTagAction::Keep => {}
            }
        }
        // Past the retention, versions that do not run go (their deployment row with them).
        let cutoff = Utc::now() - self.config.removed_retention;
        let old = project_version::Entity::find()
            .filter(project_version::Column::RemovedAt.lt(cutoff))
            .filter(project_version::Column::Deployed.eq(false))
            .all(&self.db)
            .await?;
        for v in old {
            let row = deployment::Entity::find()
                .filter(deployment::Column::VersionId.eq(v.id))
                .one(&self.db)
                .await?;
            if row.as_ref().is_some_and(|r| {
                r.generation > r.done_generation || r.state != DeployState::NotDeployed.as_str()
            }) {
                continue;
            }
            let txn = crate::db::begin_write(&self.db).await?;
            project_version::Entity::delete_by_id(v.id).exec(&txn).await?;
            let p = project::Entity::find_by_id(v.project_id).one(&txn).await?;
            let subject = format!("{}:{}", p.as_ref().map_or("?", |p| p.name.as_str()), v.name);
            activity::record(
                &txn,
                Entry {
                    actor: SCHEDULER,
                    kind: "version.deleted",
                    subject: &subject,
                    message: format!(
                        "{subject} removed: its tag has been gone from the registry since {}",
                        v.removed_at
                            .map_or_else(String::new, |t| t.format("%Y-%m-%d").to_string())
                    ),
                    severity: Severity::Info,
                    project: Some(v.project_id),
                },
            )
            .await?;
            txn.commit().await?;
        }
        Ok(())
    }

    /// Activity older than the retention goes.
    async fn purge_activity(&self) -> anyhow::Result<()> {
        let cutoff: DateTime<Utc> = Utc::now() - self.config.activity_retention;
        let res = activity_entity::Entity::delete_many()
            .filter(activity_entity::Column::At.lt(cutoff))
            .exec(&self.db)
            .await?;
        if res.rows_affected > 0 {
            tracing::info!(entries = res.rows_affected, "old activity entries purged");
        }
        Ok(())
    }

    /// Compares what should run with the cluster: a deployed version whose own namespace is gone
    /// (deleted by someone else, or a cluster that lost its state) is deployed again; a stop that
    /// failed is tried again.
    async fn reconcile(&self) -> anyhow::Result<()> {
        let Ok(client) = self.deployer.client() else {
            return Ok(());
        };
        let namespaces: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(client);
        let listed = namespaces
            .list(&kube::api::ListParams::default().labels(crate::names::LABEL_VERSION))
            .await?;
        let present: std::collections::HashSet<String> =
            listed.items.into_iter().filter_map(|n| n.metadata.name).collect();
        for (v, row) in self.settled_deployed().await? {
            if row.shared || row.applied_at.is_none() || row.state == DeployState::Failed.as_str() {
                continue;
            }
            if !present.contains(&row.namespace) {
                let reason = format!("its namespace {} was missing from the cluster", row.namespace);
                if let Err(e) = self
                    .deployer
                    .request(Request::automatic(
                        VersionId(v.id),
                        Action::Deploy,
                        &reason,
                        Some(Expect {
                            generation: row.generation,
                            stop_due: false,
                        }),
                    ))
                    .await
                {
                    tracing::warn!(version = v.id, error = %e, "restoring a missing deployment was not accepted");
                }
            }
        }
        // Failed stops of versions that should not run, a minute after they failed.
        let failed = deployment::Entity::find()
            .filter(
                Expr::col(deployment::Column::Generation).eq(Expr::col(deployment::Column::DoneGeneration)),
            )
            .filter(deployment::Column::State.eq(DeployState::Failed.as_str()))
            .filter(deployment::Column::UpdatedAt.lt(Utc::now() - chrono::Duration::seconds(60)))
            .all(&self.db)
            .await?;
        for row in failed {
            let Some(v) = project_version::Entity::find_by_id(row.version_id)
                .one(&self.db)
                .await?
            else {
                continue;
            };
            if !v.deployed
                && let Err(e) = self
                    .deployer
                    .request(Request::automatic(
                        VersionId(v.id),
                        Action::Stop,
                        "trying the failed stop again",
                        Some(Expect {
                            generation: row.generation,
                            stop_due: false,
                        }),
                    ))
                    .await
            {
                tracing::warn!(version = v.id, error = %e, "retrying a stop was not accepted");
            }
        }
        Ok(())
    }
}
