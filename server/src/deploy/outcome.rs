//! Outcomes: recording what a pipeline run did (state, digest, failure and its reason) on the
//! row, in the activity log and on the live stream.

use super::*;

impl Deployer {
    /// Sends the version's stored status to every open page.
    pub(super) async fn publish_stored(&self, row_id: i64) {
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
    pub(super) async fn finish(
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

    pub(super) async fn finish_deploy(
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

    pub(super) async fn finish_stop(
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
}
