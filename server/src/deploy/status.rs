//! Status between requests: following the cluster watchers, and noticing changes made
//! outside O-Neko (drift).

use super::*;

/// A deployed version's state from what the watchers saw (`seen`: workload → generation):
/// until every workload applied is seen it is deploying; one still missing long after the
/// apply was deleted outside O-Neko (degraded); otherwise `health` judges, and drift says what
/// changed outside O-Neko. Returns the state, its message and the drift.
pub(super) fn judge(
    row: &deployment::Model,
    seen: &HashMap<String, i64>,
    health: impl FnOnce() -> (DeployState, String),
    now: DateTime<Utc>,
) -> (DeployState, String, String) {
    let expected: Vec<String> = inventory_of(row)
        .iter()
        // Jobs may be deleted once done (ttlSecondsAfterFinished): not waited for.
        .filter(|r| watched_workload(&r.api_version, &r.kind))
        .map(ObjectRef::describe)
        .collect();
    let missing: Vec<&str> = expected
        .iter()
        .filter(|e| !seen.contains_key(*e))
        .map(String::as_str)
        .collect();
    let settled_for = row.applied_at.map(|t| now - t);
    if missing.is_empty() {
        let (state, message) = health();
        (state, message, Deployer::drift(row, seen))
    } else if settled_for.is_some_and(|d| d > chrono::Duration::seconds(DRIFT_GRACE_SECS)) {
        let gone = missing.join(", ");
        (
            DeployState::Degraded,
            format!("{gone} missing: deleted outside O-Neko; redeploy to restore"),
            format!("{gone} deleted outside O-Neko"),
        )
    } else {
        (
            DeployState::Deploying,
            "Applied; waiting for the workloads".to_string(),
            row.drift.clone(),
        )
    }
}

impl Deployer {
    /// Turns cluster changes into status updates, a burst at a time.
    pub(super) async fn follow_cluster(
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
    pub(super) async fn refresh_transitional(&self) {
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
        let (state, message, drift) = if current == DeployState::Failed {
            // A failed deploy or stop stays failed until the next request.
            return;
        } else if !v.deployed {
            (DeployState::NotDeployed, String::new(), row.drift.clone())
        } else if !self.live.workloads_listed() {
            // Right after a start the watchers have not listed the cluster yet: nothing to judge.
            return;
        } else {
            let seen = self.live.generations(version);
            judge(&row, &seen, || self.live.health(version), Utc::now())
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
    pub(super) fn drift(row: &deployment::Model, live: &HashMap<String, i64>) -> String {
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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deploy::sample_row;

    fn deployed(inventory: &[(&str, &str)], generations: &[(&str, i64)]) -> deployment::Model {
        let mut row = sample_row(2, 2, DeployState::Deploying);
        let refs: Vec<ObjectRef> = inventory
            .iter()
            .map(|(kind, name)| ObjectRef {
                api_version: if *kind == "ConfigMap" { "v1" } else { "apps/v1" }.into(),
                kind: (*kind).into(),
                namespace: Some("on-p-v".into()),
                name: (*name).into(),
            })
            .collect();
        row.inventory = Some(serde_json::to_string(&refs).unwrap());
        let applied: BTreeMap<&str, i64> = generations.iter().copied().collect();
        row.applied_generations = Some(serde_json::to_string(&applied).unwrap());
        row.applied_at = Some(row.requested_at);
        row
    }

    fn healthy() -> (DeployState, String) {
        (DeployState::Running, String::new())
    }

    #[test]
    fn a_workload_not_seen_yet_is_waited_for_then_counts_as_deleted() {
        let row = deployed(
            &[("Deployment", "web"), ("ConfigMap", "cfg")],
            &[("Deployment/web", 1)],
        );
        let seen = HashMap::new();
        let soon = row.requested_at + chrono::Duration::seconds(2);
        let (state, message, _) = judge(&row, &seen, healthy, soon);
        assert_eq!(
            (state, message.as_str()),
            (DeployState::Deploying, "Applied; waiting for the workloads")
        );
        let later = row.requested_at + chrono::Duration::seconds(DRIFT_GRACE_SECS + 1);
        let (state, message, drift) = judge(&row, &seen, healthy, later);
        assert_eq!(state, DeployState::Degraded);
        assert_eq!(
            message,
            "Deployment/web missing: deleted outside O-Neko; redeploy to restore"
        );
        assert_eq!(
            drift, "Deployment/web deleted outside O-Neko",
            "ConfigMaps are not watched"
        );
    }

    #[test]
    fn all_seen_the_health_rules_judge_and_a_newer_generation_is_drift() {
        let row = deployed(&[("Deployment", "web")], &[("Deployment/web", 1)]);
        let now = row.requested_at + chrono::Duration::seconds(60);
        let same = HashMap::from([("Deployment/web".to_string(), 1)]);
        assert_eq!(
            judge(&row, &same, healthy, now),
            (DeployState::Running, String::new(), String::new())
        );
        let scaled = HashMap::from([("Deployment/web".to_string(), 2)]);
        let degraded = || (DeployState::Degraded, "web: 0 of 1 ready".to_string());
        assert_eq!(
            judge(&row, &scaled, degraded, now),
            (
                DeployState::Degraded,
                "web: 0 of 1 ready".to_string(),
                "Deployment/web changed outside O-Neko".to_string()
            )
        );
    }
}
