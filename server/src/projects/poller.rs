//! The tag poller: for every project, list its image's tags and turn them into versions. New
//! tags become versions (with digest and image date), vanished tags mark their version removed,
//! and the digests that matter (deployed versions, or every version on "Poll now") are checked
//! with HEAD requests so that a changed image is recorded. Failures back off per project and
//! show on the project; they are not written to the activity log on every attempt.

use crate::{
    activity::{self, Entry},
    db::entity::{docker_registry, project, project_version},
    error::{Doing, ServerError},
    registry::{
        SqlRegistries,
        tags::{PAGE_SIZE, TagClient, TagFilter, is_valid_tag, shown_tag},
    },
};
use app::model::{PollReport, Severity};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter,
};
use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, Mutex},
    time::Duration,
};
use tokio::sync::{Notify, Semaphore, watch};

/// Why a poll failed.
#[derive(Debug)]
pub enum PollError {
    /// The registry could not be polled: the message is stored on the project and shown.
    Registry(String),
    /// The project was deleted meanwhile.
    Gone(i64),
    /// Storing the result failed (logged with a reference when it reaches a user).
    Server(ServerError),
}

impl From<String> for PollError {
    fn from(message: String) -> Self {
        PollError::Registry(message)
    }
}

impl From<ServerError> for PollError {
    fn from(e: ServerError) -> Self {
        PollError::Server(e)
    }
}

impl std::fmt::Display for PollError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PollError::Registry(message) => f.write_str(message),
            PollError::Gone(id) => write!(f, "project {id} no longer exists"),
            PollError::Server(e) => e.fmt(f),
        }
    }
}

/// Longest wait between polls of a failing project.
const MAX_BACKOFF: Duration = Duration::from_secs(3600);
/// New tags inspected at the same time within one project.
const INSPECT_CONCURRENCY: usize = 4;
/// Tags webhooks may name for one queued poll; beyond that it checks every version's digest.
const MAX_QUEUED_TAGS: usize = 1000;

/// Which digests a poll checks.
#[derive(Clone, Debug)]
pub enum Refresh {
    /// Deployed versions and versions without a digest (the periodic poll).
    Deployed,
    /// Every version ("Poll now").
    All,
    /// Deployed versions and these tags (a webhook named them).
    Tags(Vec<String>),
}

use crate::versions::request::SCHEDULER;

/// A registry's client and the registry's `updated_at` it was built for.
type CachedClient = (DateTime<Utc>, Arc<TagClient>);

/// The poller, shared by the background loop, "Poll now" and webhooks.
pub struct Poller {
    db: DatabaseConnection,
    registries: Arc<SqlRegistries>,
    default_interval: Duration,
    slots: Arc<Semaphore>,
    /// Polls of one registry at the same time: half the slots, so one slow registry cannot
    /// hold them all.
    per_registry: usize,
    clients: Mutex<HashMap<i64, CachedClient>>,
    registry_slots: Mutex<HashMap<i64, Arc<Semaphore>>>,
    project_locks: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    in_flight: Mutex<HashSet<i64>>,
    /// Polls webhooks asked for that wait for a slot, by project: the tags named so far
    /// (`None`: too many, check every version).
    queued: Mutex<HashMap<i64, Option<Vec<String>>>>,
    wake: Notify,
    /// Periodic polls run only on the scheduler's leader ("Poll now" and webhooks anywhere).
    leadership: crate::lease::Leadership,
}

impl Poller {
    pub fn new(
        db: DatabaseConnection,
        registries: Arc<SqlRegistries>,
        default_interval: Duration,
        concurrency: usize,
    ) -> Self {
        Poller {
            db,
            registries,
            default_interval,
            slots: Arc::new(Semaphore::new(concurrency.max(1))),
            per_registry: concurrency.div_ceil(2).max(1),
            clients: Mutex::default(),
            registry_slots: Mutex::default(),
            project_locks: Mutex::default(),
            in_flight: Mutex::default(),
            queued: Mutex::default(),
            wake: Notify::new(),
            leadership: crate::lease::Leadership::always(),
        }
    }

    /// Polls periodically only while `leadership` leads.
    pub fn led_by(mut self, leadership: crate::lease::Leadership) -> Self {
        self.leadership = leadership;
        self
    }

    /// Makes the background loop look for due projects now.
    pub fn wake(&self) {
        self.wake.notify_one();
    }

    /// HTTP requests sent to registries so far, for the benchmark.
    pub fn requests_sent(&self) -> u64 {
        self.clients
            .lock()
            .unwrap()
            .values()
            .map(|(_, c)| c.requests())
            .sum()
    }

    /// Polls due projects until `stop` turns true. Each poll runs in its own task, so a slow
    /// registry holds only its own slots.
    pub async fn run(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        loop {
            let due = if self.leadership.is_leader() {
                self.due_projects().await
            } else {
                Ok(vec![])
            };
            match due {
                Ok(due) => {
                    for (id, registry) in due {
                        if !self.in_flight.lock().unwrap().insert(id) {
                            continue;
                        }
                        let me = self.clone();
                        tokio::spawn(async move {
                            let registry_slot = me.registry_slot(registry);
                            let _r = registry_slot.acquire_owned().await;
                            let _g = me.slots.clone().acquire_owned().await;
                            if let Err(e) = me.poll(id, Refresh::Deployed, SCHEDULER).await {
                                tracing::debug!(project = id, error = %e, "poll failed");
                            }
                            me.in_flight.lock().unwrap().remove(&id);
                        });
                    }
                }
                Err(e) => tracing::warn!(error = %e, "reading due projects failed"),
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.wake.notified() => {}
                _ = stop.changed() => return,
            }
        }
    }

    /// Queues a poll of `project` (in `registry`) that checks the digests of `tags`, for a
    /// webhook. It runs in the background within the poller's slots, like the periodic polls
    /// (`--poll-concurrency`, half of it per registry). A project whose poll is still waiting
    /// gets the tags added to that one: however many notifications arrive, a project has at
    /// most one poll waiting and one running.
    pub fn queue(self: &Arc<Self>, project: i64, registry: i64, tags: Vec<String>, actor: &'static str) {
        {
            let mut queued = self.queued.lock().unwrap();
            if let Some(waiting) = queued.get_mut(&project) {
                if let Some(named) = waiting {
                    for t in tags {
                        if !named.contains(&t) {
                            named.push(t);
                        }
                    }
                    if named.len() > MAX_QUEUED_TAGS {
                        *waiting = None;
                    }
                }
                return;
            }
            let tags = (tags.len() <= MAX_QUEUED_TAGS).then_some(tags);
            queued.insert(project, tags);
        }
        let me = self.clone();
        tokio::spawn(async move {
            let registry_slot = me.registry_slot(registry);
            let _r = registry_slot.acquire_owned().await;
            let _g = me.slots.clone().acquire_owned().await;
            // From here on, a new notification queues the next poll.
            let refresh = match me.queued.lock().unwrap().remove(&project).flatten() {
                Some(tags) => Refresh::Tags(tags),
                None => Refresh::All,
            };
            if let Err(e) = me.poll(project, refresh, actor).await {
                tracing::info!(project, error = %e, "poll after webhook failed");
            }
        });
    }

    /// Polls every project once, bounded as the loop is, and waits for all (the benchmark).
    pub async fn poll_all(self: &Arc<Self>) -> (usize, usize) {
        let ids: Vec<(i64, i64)> = match project::Entity::find().all(&self.db).await {
            Ok(all) => all.into_iter().map(|p| (p.id, p.docker_registry_id)).collect(),
            Err(_) => return (0, 0),
        };
        let results = stream::iter(ids)
            .map(|(id, registry)| {
                let me = self.clone();
                async move {
                    let registry_slot = me.registry_slot(registry);
                    let _r = registry_slot.acquire_owned().await;
                    let _g = me.slots.clone().acquire_owned().await;
                    me.poll(id, Refresh::Deployed, SCHEDULER).await.is_ok()
                }
            })
            .buffer_unordered(1024)
            .collect::<Vec<bool>>()
            .await;
        let ok = results.iter().filter(|b| **b).count();
        (ok, results.len() - ok)
    }

    async fn due_projects(&self) -> Result<Vec<(i64, i64)>, sea_orm::DbErr> {
        let now = Utc::now();
        Ok(project::Entity::find()
            .filter(
                Condition::any()
                    .add(project::Column::NextPollAt.is_null())
                    .add(project::Column::NextPollAt.lte(now)),
            )
            .all(&self.db)
            .await?
            .into_iter()
            .map(|p| (p.id, p.docker_registry_id))
            .collect())
    }

    fn registry_slot(&self, registry: i64) -> Arc<Semaphore> {
        self.registry_slots
            .lock()
            .unwrap()
            .entry(registry)
            .or_insert_with(|| Arc::new(Semaphore::new(self.per_registry)))
            .clone()
    }

    /// The cached client of a registry, rebuilt when the registry's settings changed (keeping
    /// it keeps its Bearer tokens).
    async fn client(&self, registry: &docker_registry::Model) -> Result<Arc<TagClient>, String> {
        if let Some((at, c)) = self.clients.lock().unwrap().get(&registry.id)
            && *at == registry.updated_at
        {
            return Ok(c.clone());
        }
        let conn = self
            .registries
            .connection(registry.id)
            .await
            .map_err(|e| e.to_string())?;
        let client = Arc::new(TagClient::new(&conn).map_err(|e| e.0)?);
        let mut clients = self.clients.lock().unwrap();
        // Another poll may have built one meanwhile: keep that one (and its tokens).
        match clients.get(&registry.id) {
            Some((at, c)) if *at == registry.updated_at => Ok(c.clone()),
            _ => {
                clients.insert(registry.id, (registry.updated_at, client.clone()));
                Ok(client)
            }
        }
    }

    /// Polls one project. A registry's failure is also stored on the project; any failure backs
    /// off the project's next poll.
    pub async fn poll(
        &self,
        project_id: i64,
        refresh: Refresh,
        actor: &str,
    ) -> Result<PollReport, PollError> {
        let lock = self
            .project_locks
            .lock()
            .unwrap()
            .entry(project_id)
            .or_default()
            .clone();
        let _one_at_a_time = lock.lock().await;
        let Some(p) = project::Entity::find_by_id(project_id)
            .one(&self.db)
            .await
            .doing("reading the project to poll")?
        else {
            return Err(PollError::Gone(project_id));
        };
        let started = std::time::Instant::now();
        let result = self.poll_project(&p, refresh, actor).await;
        let registry = docker_registry::Entity::find_by_id(p.docker_registry_id)
            .one(&self.db)
            .await
            .ok()
            .flatten()
            .map_or_else(|| p.docker_registry_id.to_string(), |r| r.name);
        crate::metrics::global().poll(&registry, result.is_ok(), started.elapsed());
        // Either failure backs off; only the registry's own message is shown on the project.
        let shown = match &result {
            Ok(_) | Err(PollError::Gone(_)) => None,
            Err(PollError::Registry(message)) => Some(message.as_str()),
            Err(PollError::Server(e)) => {
                tracing::error!(project = p.id, error = %e, "storing a poll failed");
                Some("the poll's result could not be stored; the server log has the details")
            }
        };
        if let Some(message) = shown {
            self.record_failure(&p, message)
                .await
                .doing("recording a failed poll")?;
        }
        result
    }

    async fn poll_project(
        &self,
        p: &project::Model,
        refresh: Refresh,
        actor: &str,
    ) -> Result<PollReport, PollError> {
        let (client, tags, skipped_tags) = self.list_tags(p).await?;
        let versions = project_version::Entity::find()
            .filter(project_version::Column::ProjectId.eq(p.id))
            .all(&self.db)
            .await
            .doing("storing the poll")?;
        let known: HashSet<&str> = versions.iter().map(|v| v.name.as_str()).collect();
        let listed: HashSet<&str> = tags.iter().map(String::as_str).collect();
        let named: HashSet<&str> = match &refresh {
            Refresh::Tags(t) => t.iter().map(String::as_str).collect(),
            _ => HashSet::new(),
        };
        let repo: Arc<str> = Arc::from(p.image_repository.as_str());
        // New tags: digest and image date. A failure leaves the digest empty; it is asked for
        // again on the next poll.
        let new_tags: Vec<String> = tags
            .iter()
            .filter(|t| !known.contains(t.as_str()))
            .cloned()
            .collect();
        let inspected = inspect(&client, &repo, new_tags).await;
        // Known tags whose digest matters this time.
        let check: Vec<project_version::Model> = versions
            .iter()
            .filter(|v| listed.contains(v.name.as_str()))
            .filter(|v| {
                matches!(refresh, Refresh::All)
                    || v.deployed
                    || v.digest.is_none()
                    || v.removed_at.is_some()
                    || named.contains(v.name.as_str())
            })
            .cloned()
            .collect();
        let checked = check_digests(&client, &repo, check).await;

        let now = Utc::now();
        let mut report = PollReport {
            tags_seen: tags.len() as u64,
            skipped_tags,
            ..Default::default()
        };
        let txn = crate::db::begin_write(&self.db).await.doing("storing the poll")?;
        let run = PollRun { p, actor, now };
        run.store_new(&txn, inspected, &mut report)
            .await
            .doing("storing the poll")?;
        let digest_errors = run
            .store_checked(&txn, checked, &mut report)
            .await
            .doing("storing the poll")?;
        for v in versions
            .iter()
            .filter(|v| v.removed_at.is_none() && !listed.contains(v.name.as_str()))
        {
            let mut am: project_version::ActiveModel = v.clone().into();
            am.removed_at = Set(Some(now));
            am.updated_at = Set(now);
            am.update(&txn).await.doing("storing the poll")?;
            report.removed_versions.push(v.name.clone());
        }
        run.log_summary(&txn, &report).await.doing("storing the poll")?;
        run.finish(&txn, &digest_errors, now + self.interval(p))
            .await
            .doing("storing the poll")?;
        txn.commit().await.doing("storing the poll")?;
        Ok(report)
    }

    /// The project's tags that pass its filter, the client that listed them, and the listed
    /// tags that are not valid tags (reported, never stored: one with a newline or a quote must
    /// not reach the renderer's IMAGE_TAG).
    async fn list_tags(
        &self,
        p: &project::Model,
    ) -> Result<(Arc<TagClient>, Vec<String>, Vec<String>), PollError> {
        let filter = TagFilter::new(&p.tag_include, &p.tag_exclude, p.ignore_signature_tags)
            .map_err(|(field, e)| format!("the tag filter's {field} pattern is {e}"))?;
        let registry = docker_registry::Entity::find_by_id(p.docker_registry_id)
            .one(&self.db)
            .await
            .doing("reading the project's Docker registry")?
            .ok_or_else(|| "the project's Docker registry no longer exists".to_string())?;
        let client = self.client(&registry).await?;
        let (listed, invalid): (Vec<String>, Vec<String>) = client
            .list_tags(&p.image_repository, PAGE_SIZE)
            .await
            .map_err(|e| e.0)?
            .into_iter()
            .partition(|t| is_valid_tag(t));
        let skipped_tags: Vec<String> = invalid.iter().map(|t| shown_tag(t)).collect();
        if !skipped_tags.is_empty() {
            tracing::warn!(
                project = %p.name,
                count = skipped_tags.len(),
                first = %skipped_tags[0],
                "the registry lists tags that are not valid tags; skipped"
            );
        }
        let tags = listed.into_iter().filter(|t| filter.accepts(t)).collect();
        Ok((client, tags, skipped_tags))
    }

    fn interval(&self, p: &project::Model) -> chrono::Duration {
        let d = p
            .poll_interval_secs
            .and_then(|s| u64::try_from(s).ok())
            .map_or(self.default_interval, Duration::from_secs);
        chrono::Duration::from_std(d).unwrap_or(chrono::Duration::seconds(60))
    }

    /// Stores the failure and backs off: the wait doubles with each failure, up to an hour.
    /// Only the first failure of a streak goes to the activity log.
    async fn record_failure(&self, p: &project::Model, message: &str) -> Result<(), sea_orm::DbErr> {
        let now = Utc::now();
        let failures = p.poll_failures.saturating_add(1);
        let base = self.interval(p).to_std().unwrap_or(self.default_interval);
        let backoff = base
            .saturating_mul(1u32 << (failures - 1).clamp(0, 10))
            .min(MAX_BACKOFF.max(base));
        let txn = crate::db::begin_write(&self.db).await?;
        // Re-read: the project may have been edited or deleted while the poll ran.
        let Some(current) = project::Entity::find_by_id(p.id).one(&txn).await? else {
            return Ok(());
        };
        let mut am: project::ActiveModel = current.into();
        am.last_poll_at = Set(Some(now));
        am.last_poll_error = Set(Some(message.to_owned()));
        am.poll_failures = Set(failures);
        am.next_poll_at = Set(Some(
            now + chrono::Duration::from_std(backoff).unwrap_or(chrono::Duration::hours(1)),
        ));
        am.update(&txn).await?;
        if failures == 1 {
            activity::record(
                &txn,
                Entry {
                    actor: SCHEDULER,
                    kind: "project.poll_failed",
                    subject: &p.name,
                    message: format!("Polling {} failed: {message}", p.name),
                    severity: Severity::Warning,
                    project: Some(p.id),
                },
            )
            .await?;
        }
        txn.commit().await
    }
}

fn short(digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("sha256:{}", &hex[..hex.len().min(12)])
}

fn plural_s(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The first names of a list, and how many more there are.
fn list_some(names: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut out = names.iter().take(SHOWN).cloned().collect::<Vec<_>>().join(", ");
    if names.len() > SHOWN {
        out.push_str(&format!(" and {} more", names.len() - SHOWN));
    }
    out
}

/// A new tag: its name, digest and image creation date, where the registry told them.
type Inspected = (String, Option<String>, Option<DateTime<Utc>>);

/// Digest and creation date of new tags, a few at a time. (Owned items: borrowed ones in a
/// buffered stream trip the compiler's `Send` check.)
async fn inspect(client: &Arc<TagClient>, repo: &Arc<str>, new_tags: Vec<String>) -> Vec<Inspected> {
    stream::iter(new_tags)
        .map(|tag| {
            let client = client.clone();
            let repo = repo.clone();
            async move {
                let digest = client.digest(&repo, &tag).await.ok().flatten();
                let created = match digest {
                    Some(_) => client.created(&repo, &tag).await.ok().flatten(),
                    None => None,
                };
                (tag, digest, created)
            }
        })
        .buffer_unordered(INSPECT_CONCURRENCY)
        .collect()
        .await
}

/// The current digest of known versions' tags, a few at a time.
async fn check_digests(
    client: &Arc<TagClient>,
    repo: &Arc<str>,
    check: Vec<project_version::Model>,
) -> Vec<(project_version::Model, Result<Option<String>, String>)> {
    stream::iter(check)
        .map(|v| {
            let client = client.clone();
            let repo = repo.clone();
            async move {
                let digest = client.digest(&repo, &v.name).await.map_err(|e| e.0);
                (v, digest)
            }
        })
        .buffer_unordered(INSPECT_CONCURRENCY)
        .collect()
        .await
}

/// One poll's writes, in its transaction.
struct PollRun<'a> {
    p: &'a project::Model,
    actor: &'a str,
    now: DateTime<Utc>,
}

impl PollRun<'_> {
    /// New tags become versions.
    async fn store_new(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        inspected: Vec<Inspected>,
        report: &mut PollReport,
    ) -> Result<(), sea_orm::DbErr> {
        let (p, now) = (self.p, self.now);
        for (tag, digest, created) in inspected {
            project_version::ActiveModel {
                project_id: Set(p.id),
                name: Set(tag.clone()),
                digest: Set(digest),
                image_created_at: Set(created),
                digest_changed_at: Set(None),
                first_seen_at: Set(now),
                removed_at: Set(None),
                deployed: Set(false),
                // Copied, so changing the project's default later leaves existing versions be.
                redeploy_policy: Set(Some(p.redeploy_policy.clone())),
                created_at: Set(now),
                updated_at: Set(now),
                ..Default::default()
            }
            .insert(txn)
            .await?;
            report.new_versions.push(tag);
        }
        Ok(())
    }

    /// Checked versions: back in the registry, or a changed digest (logged). Returns the
    /// digest checks that failed.
    async fn store_checked(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        checked: Vec<(project_version::Model, Result<Option<String>, String>)>,
        report: &mut PollReport,
    ) -> Result<Vec<String>, sea_orm::DbErr> {
        let (p, actor, now) = (self.p, self.actor, self.now);
        let mut digest_errors = vec![];
        for (v, result) in checked {
            let mut am: project_version::ActiveModel = v.clone().into();
            let mut changed = false;
            if v.removed_at.is_some() {
                am.removed_at = Set(None);
                report.restored_versions.push(v.name.clone());
                changed = true;
            }
            match result {
                Ok(Some(d)) if v.digest.as_deref() != Some(d.as_str()) => {
                    if v.digest.is_some() {
                        am.digest_changed_at = Set(Some(now));
                        report.digest_changes.push(v.name.clone());
                        activity::record(
                            txn,
                            Entry {
                                actor,
                                kind: "version.image_changed",
                                subject: &format!("{}:{}", p.name, v.name),
                                message: format!(
                                    "The image of {}:{} changed: {} → {}",
                                    p.name,
                                    v.name,
                                    short(v.digest.as_deref().unwrap_or("")),
                                    short(&d)
                                ),
                                severity: Severity::Info,
                                project: Some(p.id),
                            },
                        )
                        .await?;
                    }
                    am.digest = Set(Some(d));
                    changed = true;
                }
                Ok(_) => {}
                Err(e) => digest_errors.push(e),
            }
            if changed {
                am.updated_at = Set(now);
                am.update(txn).await?;
            }
        }
        Ok(digest_errors)
    }

    /// One activity entry each for new, removed and restored versions.
    async fn log_summary(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        report: &PollReport,
    ) -> Result<(), sea_orm::DbErr> {
        let (p, actor) = (self.p, self.actor);
        for (kind, names, what) in [
            ("version.created", &report.new_versions, "new version"),
            (
                "version.removed",
                &report.removed_versions,
                "version removed from the registry",
            ),
            (
                "version.restored",
                &report.restored_versions,
                "version back in the registry",
            ),
        ] {
            if names.is_empty() {
                continue;
            }
            activity::record(
                txn,
                Entry {
                    actor,
                    kind,
                    subject: &p.name,
                    message: format!("{}: {} {what}{}", p.name, names.len(), plural_s(names.len()))
                        + &format!(": {}", list_some(names)),
                    severity: Severity::Info,
                    project: Some(p.id),
                },
            )
            .await?;
        }
        Ok(())
    }

    /// The project's poll state: when it was polled, whether all went well, the next poll.
    async fn finish(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        digest_errors: &[String],
        next: DateTime<Utc>,
    ) -> Result<(), sea_orm::DbErr> {
        let (p, actor, now) = (self.p, self.actor, self.now);
        let mut am: project::ActiveModel = p.clone().into();
        am.last_poll_at = Set(Some(now));
        if digest_errors.is_empty() {
            am.last_poll_ok_at = Set(Some(now));
            am.last_poll_error = Set(None);
            am.poll_failures = Set(0);
        } else {
            am.last_poll_error = Set(Some(format!(
                "tags listed, but {} digest check{} failed: {}",
                digest_errors.len(),
                plural_s(digest_errors.len()),
                digest_errors[0]
            )));
            am.poll_failures = Set(p.poll_failures.saturating_add(1));
        }
        if p.poll_failures > 0 && digest_errors.is_empty() {
            activity::record(
                txn,
                Entry {
                    actor,
                    kind: "project.poll_recovered",
                    subject: &p.name,
                    message: format!("Polling {} works again", p.name),
                    severity: Severity::Info,
                    project: Some(p.id),
                },
            )
            .await?;
        }
        am.next_poll_at = Set(Some(next));
        am.update(txn).await?;
        Ok(())
    }
}
