//! The deploy and stop pipelines, one step each: render the values (`versions::config`) → pull
//! each chart (cached) → `helm template` (release name, namespace, `--include-crds`, the
//! cluster's version) → parse and stamp the manifests (`cluster::manifests`) → create the
//! namespace and the image pull secret → apply CRDs → server dry-run of the whole set → hooks,
//! server-side apply in kind order, pruning of what is no longer rendered (`cluster::apply`).
//! Every step is idempotent, so a deploy interrupted anywhere is simply run again.
//!
//! `deploy` reads as that list; each step is a method of `steps::Run` (the version, its
//! namespace and policy, the applier). A failure carries a [`FailureKind`], counted in
//! `/metrics`.

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
use sea_orm::EntityTrait;
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
        remove(d, &run.applier, row, &old).await?;
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

/// A hook: the old one deleted first (by its policy), applied, waited for, deleted after.
async fn run_hook(d: &Deployer, applier: &Applier, r: &ObjectRef, m: &Manifest) -> Result<(), String> {
    let hook = m.hook.as_ref().expect("only hooks are run as hooks");
    if hook.before_creation {
        applier.delete(r).await?;
        applier.wait_gone(r, d.config.timeout).await?;
    }
    applier.apply(r, &m.object, false).await?;
    match applier.wait_hook(r, d.config.timeout).await {
        Ok(()) => {
            if hook.delete_on_success {
                applier.delete(r).await?;
            }
            Ok(())
        }
        Err(e) => {
            if hook.delete_on_failure {
                let _ = applier.delete(r).await;
            }
            Err(e)
        }
    }
}

/// The registry's pull secret in a shared namespace is shared by every version there.
fn is_shared_secret(m: &Manifest) -> bool {
    m.kind == "Secret" && m.release.is_empty()
}

/// The image pull secret for the project's registry, when it has credentials.
async fn pull_secret(
    d: &Deployer,
    p: &project::Model,
    name: &str,
    namespace: &str,
    shared: bool,
    labels: &BTreeMap<String, String>,
) -> Result<Option<Manifest>, String> {
    if name.is_empty() {
        return Ok(None);
    }
    let conn = d
        .registries
        .connection(p.docker_registry_id)
        .await
        .map_err(|e| format!("reading the registry's credentials failed: {e}"))?;
    let host = conn
        .url
        .split_once("://")
        .map_or(conn.url.as_str(), |(_, h)| h)
        .trim_end_matches('/')
        .to_owned();
    let auth = match &conn.auth {
        Credentials::Basic(user, password) => json!({
            "username": user,
            "password": password,
            "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
        }),
        Credentials::Token(t) => json!({ "registrytoken": t }),
        Credentials::Anonymous => return Ok(None),
    };
    let config = json!({ "auths": { host: auth } });
    // In a shared namespace the secret belongs to no single version.
    let mut labels: BTreeMap<String, String> = if shared {
        BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])
    } else {
        labels.clone()
    };
    labels.insert(LABEL_REGISTRY.to_string(), p.docker_registry_id.to_string());
    let object = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": { "name": name, "namespace": namespace, "labels": labels },
        "type": "kubernetes.io/dockerconfigjson",
        "data": { ".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string()) },
    });
    Ok(Some(Manifest {
        release: String::new(),
        api_version: "v1".into(),
        kind: "Secret".into(),
        name: name.to_owned(),
        namespace: Some(namespace.to_owned()),
        hook: None,
        object,
    }))
}

/// Refuses a shared namespace's pull secret that holds another registry's credentials.
async fn same_registry_or_free(applier: &Applier, r: &ObjectRef, registry: i64) -> Result<(), String> {
    match applier.label_of(r, LABEL_REGISTRY).await? {
        Some(Some(other)) if other != registry.to_string() => Err(format!(
            "{} in namespace {} holds the credentials of another Docker registry (id {other}) whose name reads the same; rename one of the two registries",
            r.describe(),
            r.namespace.as_deref().unwrap_or_default()
        )),
        _ => Ok(()),
    }
}

/// Deletes this registry's pull secret from a shared namespace (when it is O-Neko's, and not
/// another registry's of the same name).
async fn remove_shared_pull_secret(
    applier: &Applier,
    namespace: &str,
    name: &str,
    registry: i64,
) -> Result<(), String> {
    let r = ObjectRef {
        api_version: "v1".into(),
        kind: "Secret".into(),
        namespace: Some(namespace.to_owned()),
        name: name.to_owned(),
    };
    let Some(found) = applier.get(&r).await? else {
        return Ok(());
    };
    let labels = found.metadata.labels.unwrap_or_default();
    let ours = labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
        && labels
            .get(LABEL_REGISTRY)
            .is_none_or(|id| *id == registry.to_string());
    if ours { applier.delete(&r).await } else { Ok(()) }
}

/// Refuses an object that exists and belongs to another version (or to no version of O-Neko's).
async fn owned_or_free(applier: &Applier, r: &ObjectRef, version: &str) -> Result<(), String> {
    match applier.label_of(r, LABEL_VERSION).await? {
        None => Ok(()),
        Some(Some(v)) if v == version => Ok(()),
        Some(Some(v)) => Err(format!(
            "{} already exists and belongs to another deployment (version {v}); O-Neko does not take it over",
            r.describe()
        )),
        Some(None) => Err(format!(
            "{} already exists and was not deployed by O-Neko; O-Neko does not take it over",
            r.describe()
        )),
    }
}

/// The `(apiVersion, kind)` pairs a CustomResourceDefinition serves.
fn crd_kinds(crd: &serde_json::Value) -> Vec<(String, String)> {
    let group = crd
        .pointer("/spec/group")
        .and_then(|g| g.as_str())
        .unwrap_or_default();
    let kind = crd
        .pointer("/spec/names/kind")
        .and_then(|k| k.as_str())
        .unwrap_or_default();
    crd.pointer("/spec/versions")
        .and_then(|v| v.as_array())
        .into_iter()
        .flatten()
        .filter(|v| v.get("served").and_then(|s| s.as_bool()).unwrap_or(true))
        .filter_map(|v| v.get("name").and_then(|n| n.as_str()))
        .map(|name| (format!("{group}/{name}"), kind.to_owned()))
        .collect()
}

/// Takes a deployment out of the cluster: its own namespace (one labelled as this version's), or
/// in a shared namespace exactly the objects labelled as its own; cluster-scoped objects it
/// applied go too while they carry its label (CRDs stay, as with Helm).
async fn remove(
    d: &Deployer,
    applier: &Applier,
    row: &deployment::Model,
    inventory: &[ObjectRef],
) -> Result<(), String> {
    let version = row.version_id.to_string();
    let ns_ref = |name: &str| ObjectRef {
        api_version: "v1".into(),
        kind: "Namespace".into(),
        namespace: None,
        name: name.to_owned(),
    };
    let mut gone: Vec<ObjectRef> = vec![];
    for r in inventory
        .iter()
        .filter(|r| r.namespace.is_none() && r.kind != "CustomResourceDefinition")
    {
        if applier.delete_if_labelled(r, LABEL_VERSION, &version).await? {
            gone.push(r.clone());
        }
    }
    // Every namespace the deployment used (after a move that failed, the inventory names both).
    let mut namespaces: BTreeSet<String> = inventory.iter().filter_map(|r| r.namespace.clone()).collect();
    namespaces.insert(row.namespace.clone());
    for ns in namespaces {
        let own = !row.shared || ns != row.namespace;
        if own {
            match applier.label_of(&ns_ref(&ns), LABEL_VERSION).await? {
                None => continue,
                Some(Some(v)) if v == version => {
                    applier.delete_namespace(&ns, d.config.timeout).await?;
                    continue;
                }
                // Not the version's namespace: only its objects there.
                Some(_) => {}
            }
        } else if applier.get(&ns_ref(&ns)).await?.is_none() {
            continue;
        }
        let mut refs: BTreeSet<ObjectRef> = inventory
            .iter()
            .filter(|r| r.namespace.as_deref() == Some(ns.as_str()))
            .cloned()
            .collect();
        refs.extend(
            applier
                .labelled(&ns, &format!("{LABEL_VERSION}={version}"))
                .await?,
        );
        for r in &refs {
            if applier.delete_if_labelled(r, LABEL_VERSION, &version).await? {
                gone.push(r.clone());
            }
        }
    }
    for r in &gone {
        applier.wait_gone(r, d.config.timeout).await?;
    }
    Ok(())
}

/// Stops a version: deletes its namespace and waits until it is gone, or in a shared namespace
/// deletes exactly its objects. Already gone is success.
pub async fn stop(d: &Deployer, row: &deployment::Model) -> Result<(), Failure> {
    let client = d.cluster.client().kind(FailureKind::NoCluster)?;
    let applier = Applier::new(client).await.kind(FailureKind::NoCluster)?;
    remove(d, &applier, row, &inventory_of(row)).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn only_the_registry_secret_is_shared() {
        let m = |kind: &str, release: &str| Manifest {
            release: release.into(),
            api_version: "v1".into(),
            kind: kind.into(),
            name: "x".into(),
            namespace: None,
            hook: None,
            object: Value::Null,
        };
        assert!(is_shared_secret(&m("Secret", "")));
        assert!(!is_shared_secret(&m("Secret", "web")));
        assert!(!is_shared_secret(&m("ConfigMap", "")));
    }
}
