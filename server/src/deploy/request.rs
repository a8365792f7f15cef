//! Requests: recording what is wanted (deploy, stop, extend) on the version and its
//! `deployments` row, for the worker to carry out.

use super::*;
use crate::error::Doing;

/// What a deploy or stop request does, decided from what is recorded.
#[derive(Debug, PartialEq)]
pub(super) enum Decision {
    /// Nothing to do: the status stays as it is.
    Unchanged,
    /// Refused: the same request is in progress (the message says by whom).
    Busy(String),
    /// Recorded, with the message shown meanwhile. `queued`: behind the opposite request in
    /// progress, so the row keeps that one's state until it is done.
    Record { queued: bool, message: String },
}

/// The decision for a request to deploy or stop version `name`, given its deployment row and
/// whether it is wanted deployed now (`deployed`).
pub(super) fn decide(
    name: &str,
    row: Option<&deployment::Model>,
    deployed: bool,
    r: &Request<'_>,
    now: DateTime<Utc>,
) -> Decision {
    let deploy = r.action == Action::Deploy;
    if let Some(e) = r.expect {
        let changed = row.is_none_or(|r| {
            r.generation != e.generation || (e.stop_due && r.stop_at.is_none_or(|t| t > now))
        });
        if changed {
            return Decision::Unchanged;
        }
    }
    let verb = if deploy { "deployed" } else { "stopped" };
    match row {
        None if !deploy => Decision::Unchanged,
        Some(r) if pending(r) && deployed == deploy => Decision::Busy(format!(
            "{name} is already being {verb} (asked by {} at {}); wait until that is done.",
            r.requested_by,
            r.requested_at.format("%H:%M:%S UTC")
        )),
        Some(r) if pending(r) => Decision::Record {
            queued: true,
            message: format!(
                "Queued: to be {verb} once the {} in progress is done",
                if deploy { "stop" } else { "deploy" }
            ),
        },
        Some(r) if !deploy && !deployed && state_of(r) == DeployState::NotDeployed => Decision::Unchanged,
        _ => Decision::Record {
            queued: false,
            message: if deploy {
                "Waiting to be deployed"
            } else {
                "Waiting to be stopped"
            }
            .to_string(),
        },
    }
}

impl Deployer {
    /// A person's request for each of `ids` in turn; one failing does not stop the others.
    pub(super) async fn request_each(
        &self,
        actor: &str,
        ids: Vec<VersionId>,
        action: Action,
    ) -> Vec<BatchOutcome> {
        let mut out = vec![];
        for id in ids {
            let name = match self.find(id).await {
                Ok((p, v)) => format!("{}:{}", p.name, v.name),
                Err(_) => format!("version {}", id.0),
            };
            let result = self.request(Request::by_person(actor, id, action)).await;
            out.push(BatchOutcome {
                version: id,
                name,
                error: result.err().map(|e| e.to_string()),
            });
        }
        out
    }

    /// Refuses a deploy that cannot happen: no cluster, a vanished tag, a project being deleted.
    fn deployable(&self, p: &project::Model, v: &project_version::Model, name: &str) -> Result<(), AppError> {
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
        Ok(())
    }

    /// Records a deploy or stop request and wakes the worker. A person's deploy restarts the
    /// lifetime clock; a scheduler request is carried out only if nothing changed meanwhile.
    pub async fn request(&self, req: Request<'_>) -> Result<DeployStatus, AppError> {
        let (id, deploy, actor, reason) = (
            req.version,
            req.action == Action::Deploy,
            req.by.name(),
            req.reason,
        );
        let (p, v) = self.find(id).await?;
        let name = format!("{}:{}", p.name, v.name);
        if deploy {
            self.deployable(&p, &v, &name)?;
        }
        // Where a first deploy goes, read before the write transaction: a transaction that
        // waited for a second pooled connection while holding SQLite's write lock could starve.
        let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
        let facts = version_facts(&self.db, &p, &v, &overrides).await?;
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("recording the request")?;
        // Locked for the transaction on PostgreSQL (SQLite's IMMEDIATE transaction already
        // serialises writers), so two requests never both bump from the same generation.
        let v = project_version::Entity::find_by_id(v.id)
            .lock_exclusive()
            .one(&txn)
            .await
            .doing("recording the request")?
            .ok_or_else(|| AppError::not_found(format!("version {}", id.0)))?;
        let row = deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(v.id))
            .lock_exclusive()
            .one(&txn)
            .await
            .doing("recording the request")?;
        let now = Utc::now();
        let (queued, message) = match decide(&name, row.as_ref(), v.deployed, &req, now) {
            Decision::Unchanged => return Ok(status_of(row.as_ref(), &v)),
            Decision::Busy(why) => return Err(AppError::conflict(why)),
            Decision::Record { queued, message } => (queued, message),
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
                stop_at: Set(crate::versions::lifetime::stop_at(
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
            .doing("recording the request")?,
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
                if deploy && matches!(req.by, Requester::Person(_)) {
                    am.started_at = Set(Some(now));
                    am.stop_at = Set(crate::versions::lifetime::stop_at(
                        effective_lifetime(&p, &v),
                        now,
                        &self.config.clock,
                    ));
                }
                am.updated_at = Set(now);
                am.update(&txn).await.doing("recording the request")?
            }
        };
        if v.deployed != deploy {
            let mut am: project_version::ActiveModel = v.clone().into();
            am.deployed = Set(deploy);
            am.updated_at = Set(now);
            am.update(&txn).await.doing("recording the request")?;
        }
        txn.commit().await.doing("recording the request")?;
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
                crate::versions::lifetime::stop_at(effective_lifetime(&p, &v), now, &self.config.clock),
            ),
        };
        let txn = crate::db::begin_write(&self.db).await.doing("extending")?;
        let mut am: deployment::ActiveModel = row.into();
        am.started_at = Set(started);
        am.stop_at = Set(stop_at);
        am.updated_at = Set(now);
        let saved = am.update(&txn).await.doing("extending")?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
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
        .doing("extending")?;
        txn.commit().await.doing("extending")?;
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
        let Some(p) = project::Entity::find_by_id(project_id)
            .one(&self.db)
            .await
            .doing("updating stop times")?
        else {
            return Ok(());
        };
        let rows = deployment::Entity::find()
            .filter(deployment::Column::ProjectId.eq(project_id))
            .all(&self.db)
            .await
            .doing("updating stop times")?;
        for row in rows {
            let Some(v) = project_version::Entity::find_by_id(row.version_id)
                .one(&self.db)
                .await
                .doing("updating stop times")?
                .filter(|v| v.deployed)
            else {
                continue;
            };
            let Some(started) = row.started_at else { continue };
            let stop_at =
                crate::versions::lifetime::stop_at(effective_lifetime(&p, &v), started, &self.config.clock);
            if stop_at != row.stop_at {
                let mut am: deployment::ActiveModel = row.into();
                am.stop_at = Set(stop_at);
                am.update(&self.db).await.doing("updating stop times")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::request::Expect;

    fn req(deploy: bool, expect: Option<Expect>) -> Request<'static> {
        let action = if deploy { Action::Deploy } else { Action::Stop };
        Request::automatic(VersionId(1), action, "", expect)
    }
    use crate::deploy::sample_row as row;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_700_000_100, 0).unwrap()
    }

    #[test]
    fn a_first_deploy_is_recorded_and_a_first_stop_does_nothing() {
        assert_eq!(
            decide("p:v", None, false, &req(true, None), now()),
            Decision::Record {
                queued: false,
                message: "Waiting to be deployed".into()
            }
        );
        assert_eq!(
            decide("p:v", None, false, &req(false, None), now()),
            Decision::Unchanged
        );
    }

    #[test]
    fn the_same_request_twice_is_refused_with_who_asked() {
        let r = row(2, 1, DeployState::Deploying);
        match decide("p:v", Some(&r), true, &req(true, None), now()) {
            Decision::Busy(why) => {
                assert!(why.contains("p:v is already being deployed"), "{why}");
                assert!(why.contains("asked by ada at 22:13:20 UTC"), "{why}");
            }
            other => panic!("expected Busy, got {other:?}"),
        }
    }

    #[test]
    fn the_opposite_request_queues_behind_the_one_in_progress() {
        let r = row(2, 1, DeployState::Deploying);
        assert_eq!(
            decide("p:v", Some(&r), true, &req(false, None), now()),
            Decision::Record {
                queued: true,
                message: "Queued: to be stopped once the deploy in progress is done".into()
            }
        );
    }

    #[test]
    fn stopping_what_is_stopped_does_nothing_but_a_redeploy_is_recorded() {
        let stopped = row(3, 3, DeployState::NotDeployed);
        assert_eq!(
            decide("p:v", Some(&stopped), false, &req(false, None), now()),
            Decision::Unchanged
        );
        let running = row(3, 3, DeployState::Running);
        assert_eq!(
            decide("p:v", Some(&running), true, &req(true, None), now()),
            Decision::Record {
                queued: false,
                message: "Waiting to be deployed".into()
            }
        );
    }

    #[test]
    fn a_scheduler_request_is_dropped_when_the_row_changed_since_it_was_read() {
        let mut r = row(3, 3, DeployState::Running);
        let stale = Expect {
            generation: 2,
            stop_due: false,
        };
        assert_eq!(
            decide("p:v", Some(&r), true, &req(false, Some(stale)), now()),
            Decision::Unchanged
        );
        // A timed stop whose stop time was moved into the future (extended) is dropped too.
        r.stop_at = Some(now() + chrono::Duration::hours(1));
        let due = Expect {
            generation: 3,
            stop_due: true,
        };
        assert_eq!(
            decide("p:v", Some(&r), true, &req(false, Some(due)), now()),
            Decision::Unchanged
        );
        r.stop_at = Some(now() - chrono::Duration::minutes(1));
        assert!(matches!(
            decide("p:v", Some(&r), true, &req(false, Some(due)), now()),
            Decision::Record { queued: false, .. }
        ));
    }
}
