//! The worker: finds requests nobody works on, takes each one's lease and runs the pipeline
//! until the row's generation is carried out.

use super::*;

impl Deployer {
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
    pub(super) async fn claimable(&self) -> Result<Vec<i64>, sea_orm::DbErr> {
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
    pub(super) async fn take_lease(&self, id: i64) -> Result<bool, sea_orm::DbErr> {
        self.lease()
            .claim::<deployment::Entity, _>(
                &self.db,
                Condition::all().add(deployment::Column::Id.eq(id)),
                LEASE_COLUMNS,
            )
            .await
    }

    pub(super) async fn release_lease(&self, id: i64) -> Result<(), sea_orm::DbErr> {
        self.lease()
            .release::<deployment::Entity, _>(
                &self.db,
                Condition::all().add(deployment::Column::Id.eq(id)),
                LEASE_COLUMNS,
            )
            .await
    }

    pub(super) fn lease(&self) -> Lease {
        Lease {
            replica: self.config.replica.clone(),
            length: self.config.lease,
        }
    }

    /// Works on one deployment while holding its lease, until no request is left.
    pub(super) async fn work_on(self: Arc<Self>, id: i64) -> Result<(), sea_orm::DbErr> {
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

    pub(super) async fn work_loop(&self, id: i64) -> Result<(), sea_orm::DbErr> {
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
                let failed = result.as_ref().err().map(|f| f.kind.as_str());
                crate::metrics::global().operation("deploy", failed, started.elapsed());
                self.finish_deploy(&p, &v, row, generation, result).await?;
            } else {
                self.progress(&row, DeployState::Stopping, "Stopping").await?;
                let result = pipeline::stop(self, &row).await;
                let failed = result.as_ref().err().map(|f| f.kind.as_str());
                crate::metrics::global().operation("stop", failed, started.elapsed());
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
}
