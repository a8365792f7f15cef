//! The deploy and stop pipelines, one step each: render the values (`versions::config`) → pull
//! each chart (cached) → `helm template` (release name, namespace, `--include-crds`, the
//! cluster's version) → parse and stamp the manifests (`cluster::manifests`) → create the
//! namespace and the image pull secret → apply CRDs → server dry-run of the whole set → hooks,
//! server-side apply in kind order, pruning of what is no longer rendered (`cluster::apply`).
//! Every step is idempotent, so a deploy interrupted anywhere is simply run again.
//!
//! `deploy` reads as that list; each step is a method of `steps::Run` (the version, its
//! namespace and policy, the applier): `steps` (render, policy, namespace, stamp, dry run, apply,
//! prune), `secrets` (the image pull secret), `objects` (hooks, ownership, CRD kinds), and
//! `removal` (stop, and leaving a namespace). A failure carries a [`FailureKind`], counted in
//! `/metrics`.

mod objects;
mod removal;
mod secrets;
mod steps;

use super::{Deployer, inventory_of};
use crate::{
    cluster::{
        apply::{Applier, ObjectRef},
        manifests::{self, HookPhase, Manifest},
        policy,
        watch::watched_workload,
    },
    db::entity::{deployment, docker_registry, project, project_version},
    names::{LABEL_PROJECT, LABEL_REGISTRY, LABEL_RELEASE, LABEL_VERSION, MANAGED_BY, PULL_SECRET_PREFIX},
    registry::check::Credentials,
    versions::{
        config,
        render::{ChartError, RenderedVersion},
    },
};
use app::model::{DeployState, ProjectPolicy};
use base64::Engine;
use objects::crd_kinds;
use removal::remove;
use sea_orm::EntityTrait;
use secrets::is_shared_secret;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};
use steps::{Partial, Run};

/// A finished deploy.
pub struct Deployed {
    pub namespace: String,
    pub shared: bool,
    pub hash: String,
    pub digest: Option<String>,
    /// What is applied now (hooks excluded).
    pub inventory: Vec<ObjectRef>,
    /// Objects of the previous deploy that the new render no longer has, deleted.
    pub pruned: usize,
    pub skipped_hooks: Vec<String>,
    /// `Kind/name` → `metadata.generation` of the workloads as applied: a later generation in
    /// the cluster means someone changed the spec outside O-Neko.
    pub generations: BTreeMap<String, i64>,
}

/// What kind of failure ended a deploy or stop: the message says what happened; the kind is
/// what `/metrics` counts failures by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FailureKind {
    /// O-Neko's own state could not be read or written.
    Internal,
    /// No cluster is configured or reachable.
    NoCluster,
    /// The values did not render, or there are no templates.
    Values,
    /// A chart could not be pulled, rendered or read.
    Chart,
    /// The project's deployment policy refused a namespace or an object.
    Policy,
    /// The registry's credentials for the image pull secret could not be read.
    Credentials,
    /// The cluster refused an object at the dry run, or it belongs to someone else.
    Refused,
    /// A hook failed or did not finish in time.
    Hook,
    /// The cluster failed while applying, pruning or deleting.
    Cluster,
}

impl FailureKind {
    /// Its `kind` label in `/metrics`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Internal => "internal",
            FailureKind::NoCluster => "no_cluster",
            FailureKind::Values => "values",
            FailureKind::Chart => "chart",
            FailureKind::Policy => "policy",
            FailureKind::Credentials => "credentials",
            FailureKind::Refused => "refused",
            FailureKind::Hook => "hook",
            FailureKind::Cluster => "cluster",
        }
    }
}

/// A failed deploy or stop, in words; `inventory` when objects may have been applied.
pub struct Failure {
    pub message: String,
    pub kind: FailureKind,
    pub inventory: Option<Vec<ObjectRef>>,
}

/// An untyped error is the cluster's, unless a step says otherwise with [`Kind::kind`].
impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            kind: FailureKind::Cluster,
            inventory: None,
        }
    }
}

/// Gives a step's error its kind.
trait Kind<T> {
    fn kind(self, kind: FailureKind) -> Result<T, Failure>;
}

impl<T, E: Into<Failure>> Kind<T> for Result<T, E> {
    fn kind(self, kind: FailureKind) -> Result<T, Failure> {
        self.map_err(|e| Failure { kind, ..e.into() })
    }
}

/// Deploys (or redeploys in place) a version: the steps of `steps`, in order.
pub async fn deploy(
    d: &Deployer,
    p: &project::Model,
    v: &project_version::Model,
    row: &deployment::Model,
) -> Result<Deployed, Failure> {
    use FailureKind::*;
    let _ = d
        .progress(row, DeployState::Deploying, "Rendering the values")
        .await;
    let version = RenderedVersion::load(&d.db, p, v)
        .await
        .map_err(|e| format!("reading the version failed: {e}"))
        .kind(Internal)?;
    steps::renderable(&version).kind(Values)?;
    // The project's deployment policy: where it may deploy and what its charts may create.
    let policy = policy::of_project(p);
    if let Some(ns) = version.facts.namespace.as_deref()
        && !policy::allows_namespace(&policy, ns)
    {
        return Err(policy::namespace_refusal(&policy, &p.name, ns)).kind(Policy);
    }
    let client = d.cluster.client().kind(NoCluster)?;
    let _ = d
        .progress(
            row,
            DeployState::Deploying,
            "Pulling charts and rendering manifests",
        )
        .await;
    let rendered = steps::render(d, version, row.applied_at.is_none())
        .await
        .kind(Chart)?;
    let mut run = Run {
        d,
        p,
        row,
        version: v.id.to_string(),
        namespace: rendered.version.preview.namespace.clone(),
        shared: rendered.version.facts.namespace.is_some(),
        policy,
        applier: Applier::new(client).await.kind(NoCluster)?,
    };
    let mut objects = rendered.objects;
    run.step("Checking the objects against the project's deployment policy")
        .await;
    run.check_policy(&objects).kind(Policy)?;
    let old = inventory_of(row);
    // Moved to another namespace: take the old deployment down first.
    if !old.is_empty() && row.namespace != run.namespace {
        run.step("Removing the deployment from its previous namespace")
            .await;
        remove(d.config.timeout, &run.applier, row, &old).await?;
    }
    run.step("Preparing the namespace").await;
    run.prepare_namespace().await?;
    let (pull_secret, registry_secret) = run
        .stamp(&mut objects, &rendered.version.facts.pull_secret)
        .await
        .kind(Credentials)?;
    let (mut applied, placed) = run.place(objects).await?;
    run.step("Checking the objects with the cluster (dry run)").await;
    run.dry_run(&placed).await.kind(Refused)?;

    let new: Vec<ObjectRef> = applied
        .iter()
        .cloned()
        .chain(
            placed
                .iter()
                .filter(|(_, m)| m.hook.is_none() && !(run.shared && is_shared_secret(m)))
                .map(|(r, _)| r.clone()),
        )
        .collect();
    // Known before anything changes: a crash from here on leaves nothing we do not know of.
    let union: Vec<ObjectRef> = old
        .iter()
        .chain(new.iter())
        .cloned()
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect();
    d.save_inventory(row, &union, &run.namespace, run.shared)
        .await
        .kind(Internal)?;
    let partial = Partial {
        total: new.len(),
        inventory: union,
    };
    run.step("Running pre-install/pre-upgrade hooks").await;
    run.hooks(&placed, HookPhase::Pre, &partial, applied.len())
        .await
        .kind(Hook)?;
    run.step("Applying the objects").await;
    let generations = run.apply(&placed, &partial, &mut applied).await?;
    run.tidy_pull_secrets(pull_secret.as_ref(), registry_secret.as_deref())
        .await
        .map_err(|e| partial.fail(e, applied.len()))?;
    run.step("Removing objects that are no longer rendered").await;
    let pruned = run
        .prune(&old, &new)
        .await
        .map_err(|e| partial.fail(e, applied.len()))?;
    run.step("Running post-install/post-upgrade hooks").await;
    run.hooks(&placed, HookPhase::Post, &partial, applied.len())
        .await
        .kind(Hook)?;
    Ok(Deployed {
        namespace: run.namespace,
        shared: run.shared,
        hash: rendered.version.preview.hash.clone().unwrap_or_default(),
        digest: v.digest.clone(),
        inventory: new,
        pruned,
        skipped_hooks: rendered.skipped_hooks,
        generations,
    })
}

/// Stops a version: deletes its namespace and waits until it is gone, or in a shared namespace
/// deletes exactly its objects. Already gone is success.
pub async fn stop(d: &Deployer, row: &deployment::Model) -> Result<(), Failure> {
    let client = d.cluster.client().kind(FailureKind::NoCluster)?;
    let applier = Applier::new(client).await.kind(FailureKind::NoCluster)?;
    remove(d.config.timeout, &applier, row, &inventory_of(row)).await?;
    Ok(())
}
