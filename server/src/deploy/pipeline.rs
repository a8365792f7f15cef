//! The deploy and stop pipelines, one step each: render the values (`versions::config`) → pull
//! each chart (cached) → `helm template` (release name, namespace, `--include-crds`, the
//! cluster's version) → parse and stamp the manifests (`cluster::manifests`) → create the
//! namespace and the image pull secret → apply CRDs → server dry-run of the whole set → hooks,
//! server-side apply in kind order, pruning of what is no longer rendered (`cluster::apply`).
//! Every step is idempotent, so a deploy interrupted anywhere is simply run again.

use super::Deployer;
use crate::{
    cluster::{
        MANAGED_BY,
        apply::{Applier, ObjectRef},
        manifests::{self, HookPhase, LABEL_PROJECT, LABEL_RELEASE, LABEL_VERSION, Manifest},
        policy,
        watch::watched_workload,
    },
    db::entity::{deployment, docker_registry, project, project_version},
    registry::check::Credentials,
    versions::{config, version_facts},
};
use app::model::{DeployState, ProjectConfig, VersionOverrides};
use base64::Engine;
use sea_orm::EntityTrait;
use serde_json::json;
use std::collections::{BTreeMap, BTreeSet};

/// On an image pull secret: the id of the Docker registry whose credentials it holds.
const LABEL_REGISTRY: &str = "o-neko.io/docker-registry";
/// How the names of O-Neko's image pull secrets begin (`config::pull_secret_name`).
const PULL_SECRET_PREFIX: &str = "o-neko-pull";

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

/// A failed deploy or stop, in words; `inventory` when objects may have been applied.
pub struct Failure {
    pub message: String,
    pub inventory: Option<Vec<ObjectRef>>,
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure {
            message,
            inventory: None,
        }
    }
}

fn inventory_of(row: &deployment::Model) -> Vec<ObjectRef> {
    row.inventory
        .as_deref()
        .and_then(|i| serde_json::from_str(i).ok())
        .unwrap_or_default()
}

/// Deploys (or redeploys in place) a version.
pub async fn deploy(
    d: &Deployer,
    p: &project::Model,
    v: &project_version::Model,
    row: &deployment::Model,
) -> Result<Deployed, Failure> {
    let step = |m: &'static str| async move {
        let _ = d.progress(row, DeployState::Deploying, m).await;
    };
    step("Rendering the values").await;
    let project_config: ProjectConfig = config::parse_stored(p.config.as_deref(), "project configuration");
    let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
    let facts = version_facts(&d.db, p, v, &overrides)
        .await
        .map_err(|e| format!("reading the version failed: {e}"))?;
    let preview = config::preview(&facts, &project_config, &overrides);
    if let Some(e) = preview.error {
        return Err(format!("the values cannot be rendered: {e}").into());
    }
    if preview.templates.is_empty() {
        return Err(Failure::from(
            "the project has no configuration templates, so there is nothing to deploy".to_string(),
        ));
    }
    let hash = preview.hash.clone().unwrap_or_default();
    let namespace = preview.namespace.clone();
    let shared = facts.namespace.is_some();
    // The project's deployment policy: where it may deploy and what its charts may create.
    let policy = policy::of_project(p);
    if let Some(ns) = facts.namespace.as_deref()
        && !policy::allows_namespace(&policy, ns)
    {
        return Err(policy::namespace_refusal(&policy, &p.name, ns).into());
    }
    let client = d.cluster.client()?;

    step("Pulling charts and rendering manifests").await;
    let install = row.applied_at.is_none();
    let kube_version = d.kube_version().await;
    let merged = config::merge_templates(&project_config.templates, &overrides.templates);
    let mut objects: Vec<Manifest> = vec![];
    let mut skipped_hooks = vec![];
    for rendered in &preview.templates {
        let Some((t, _)) = merged.iter().find(|(t, _)| t.name == rendered.name) else {
            continue;
        };
        let registry = t.helm_registry.ok_or_else(|| {
            format!(
                "template {} has no Helm registry, so there is no chart to deploy",
                t.name
            )
        })?;
        let chart = d
            .helm
            .fetch_chart(registry, &t.chart_name, &t.chart_version)
            .await
            .map_err(|e| format!("template {}: chart {}: {e}", t.name, t.chart_name))?;
        let yaml = d
            .helm
            .template(
                &chart,
                &rendered.release_name,
                &namespace,
                &rendered.values,
                kube_version.as_deref(),
            )
            .await
            .map_err(|e| format!("template {}: {e}", t.name))?;
        let parsed = manifests::parse(&rendered.release_name, &yaml, install)?;
        objects.extend(parsed.objects);
        skipped_hooks.extend(parsed.skipped_hooks);
    }

    let labels = |release: Option<&str>| -> BTreeMap<String, String> {
        let mut l = BTreeMap::from([
            (MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string()),
            (LABEL_PROJECT.to_string(), p.id.to_string()),
            (LABEL_VERSION.to_string(), v.id.to_string()),
        ]);
        if let Some(r) = release {
            l.insert(LABEL_RELEASE.to_string(), r.to_string());
        }
        l
    };

    let mut applier = Applier::new(client).await?;
    // The whole set, hooks included, is checked against the policy before anything (not even the
    // namespace) is applied. Custom resources of CRDs in the set are placed by their CRD.
    step("Checking the objects against the project's deployment policy").await;
    let crd_scopes = policy::crd_scopes(&objects);
    policy::check(&policy, &p.name, &objects, |m| {
        applier
            .resolve(&m.api_version, &m.kind)
            .map(|(_, namespaced)| namespaced)
            .or_else(|e| {
                crd_scopes
                    .get(&(policy::group_of(&m.api_version).to_owned(), m.kind.clone()))
                    .copied()
                    .ok_or(e)
            })
    })?;
    let old = inventory_of(row);
    // Moved to another namespace: take the old deployment down first.
    if !old.is_empty() && row.namespace != namespace {
        step("Removing the deployment from its previous namespace").await;
        remove(d, &applier, row, &old).await?;
    }
    step("Preparing the namespace").await;
    if shared {
        if applier
            .get(&ObjectRef {
                api_version: "v1".into(),
                kind: "Namespace".into(),
                namespace: None,
                name: namespace.clone(),
            })
            .await?
            .is_none()
        {
            return Err(format!(
                "the shared namespace {namespace} does not exist in the cluster; an ADMIN can create it again under Namespaces"
            )
            .into());
        }
    } else {
        // Labelled with the project's Pod Security level, which the API server enforces.
        let mut ns_labels = labels(None);
        ns_labels.extend(policy::namespace_labels(policy.pod_security));
        applier
            .ensure_namespace(
                &namespace,
                &ns_labels,
                (LABEL_VERSION, &v.id.to_string()),
                d.config.timeout,
            )
            .await?;
    }

    // The registry's credentials as an image pull secret, offered to every service account:
    // only the project's own registry's, and only when an ADMIN lets it copy them.
    let pull_secret = pull_secret(d, p, &facts.pull_secret, &namespace, shared, &labels(None)).await?;
    // The name this registry's secret has (or had) whether it is copied now or not.
    let registry_secret = docker_registry::Entity::find_by_id(p.docker_registry_id)
        .one(&d.db)
        .await
        .map_err(|e| format!("reading the project's Docker registry failed: {e}"))?
        .map(|r| config::pull_secret_name(&r.name));
    for m in &mut objects {
        manifests::stamp(&mut m.object, &labels(Some(&m.release)));
        if let Some(secret) = pull_secret.as_ref().map(|s| s.name.clone())
            && m.kind == "ServiceAccount"
        {
            manifests::add_pull_secret(&mut m.object, &secret);
        }
    }
    if let Some(s) = &pull_secret {
        objects.push(s.clone());
    }

    // CRDs first, for real, so the custom resources that follow can be resolved and dry-run.
    let (crds, mut objects): (Vec<Manifest>, Vec<Manifest>) = objects
        .into_iter()
        .partition(|m| m.kind == "CustomResourceDefinition" && m.hook.is_none());
    let version = v.id.to_string();
    let mut applied: Vec<ObjectRef> = vec![];
    let mut served: Vec<(String, String)> = vec![];
    for mut crd in crds {
        // CRDs are shared by every version of a chart (and never deleted), so not owned.
        let r = applier.place(&mut crd, &namespace)?;
        applier.apply(&r, &crd.object, false).await?;
        served.extend(crd_kinds(&crd.object));
        applied.push(r);
    }
    if !served.is_empty() {
        applier.refresh_until(&served, d.config.timeout).await?;
    }
    let mut placed: Vec<(ObjectRef, Manifest)> = vec![];
    manifests::sort(&mut objects);
    for mut m in objects {
        let r = applier.place(&mut m, &namespace)?;
        placed.push((r, m));
    }

    step("Checking the objects with the cluster (dry run)").await;
    for (r, m) in &placed {
        // Where versions share a namespace (or the cluster, for cluster-scoped objects), an
        // object of another version is never taken over.
        if (shared || r.namespace.is_none()) && !is_shared_secret(m) {
            owned_or_free(&applier, r, &version).await?;
        }
        // A shared namespace's pull secret of the same name but another registry's credentials
        // (two registry names that sanitise alike) is never overwritten with ours.
        if shared && is_shared_secret(m) {
            same_registry_or_free(&applier, r, p.docker_registry_id).await?;
        }
        // A hook that is replaced on every run is created anew, not updated: its dry run would
        // refuse the change of an immutable Job.
        if let Some(h) = &m.hook
            && h.before_creation
            && applier.get(r).await?.is_some()
        {
            continue;
        }
        applier
            .apply_as_version(r, &m.object, true, &version)
            .await
            .map_err(|e| format!("the cluster refused {}: {e}", m.describe()))?;
    }

    let new: Vec<ObjectRef> = applied
        .iter()
        .cloned()
        .chain(
            placed
                .iter()
                .filter(|(_, m)| m.hook.is_none() && !(shared && is_shared_secret(m)))
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
    d.save_inventory(row, &union, &namespace, shared).await?;
    let fail = |message: String, done: usize| Failure {
        message: if done > 0 {
            format!(
                "{message}. {done} of {} objects had been applied, so the version may run partly: redeploy or stop it",
                new.len()
            )
        } else {
            message
        },
        inventory: Some(union.clone()),
    };

    let hooks = |phase: HookPhase| {
        placed
            .iter()
            .filter(move |(_, m)| m.hook.as_ref().is_some_and(|h| h.phase == phase))
            .collect::<Vec<_>>()
    };
    let phase_name = if install { "install" } else { "upgrade" };
    step("Running pre-install/pre-upgrade hooks").await;
    for (r, m) in hooks(HookPhase::Pre) {
        run_hook(d, &applier, r, m).await.map_err(|e| {
            fail(
                format!("pre-{phase_name} hook {}: {e}", m.describe()),
                applied.len(),
            )
        })?;
    }
    step("Applying the objects").await;
    let mut generations = BTreeMap::new();
    // Workloads an autoscaler scales change their spec by design: not a change outside O-Neko.
    let autoscaled: BTreeSet<String> = placed
        .iter()
        .filter(|(_, m)| m.kind == "HorizontalPodAutoscaler")
        .filter_map(|(_, m)| {
            let t = &m.object["spec"]["scaleTargetRef"];
            Some(format!("{}/{}", t["kind"].as_str()?, t["name"].as_str()?))
        })
        .collect();
    for (r, m) in placed.iter().filter(|(_, m)| m.hook.is_none()) {
        let live = applier
            .apply_as_version(r, &m.object, false, &version)
            .await
            .map_err(|e| fail(format!("applying failed: {e}"), applied.len()))?;
        if watched_workload(&r.api_version, &r.kind)
            && !autoscaled.contains(&r.describe())
            && let Some(g) = live.metadata.generation
        {
            generations.insert(r.describe(), g);
        }
        applied.push(r.clone());
    }
    if let Some(s) = &pull_secret {
        applier
            .add_pull_secret(&namespace, "default", &s.name)
            .await
            .map_err(|e| fail(e, applied.len()))?;
    }
    // Credentials this deploy does not copy (switched off, or the project moved to another
    // registry) leave the default service account. In the version's own namespace every other
    // pull secret of O-Neko's is stale (its Secret is pruned below, with the inventory); in a
    // shared one only this registry's, when it is switched off (others belong to other projects).
    let current = pull_secret.as_ref().map(|s| s.name.as_str());
    let stale = |name: &str| {
        Some(name) != current
            && if shared {
                current.is_none() && Some(name) == registry_secret.as_deref()
            } else {
                name.starts_with(PULL_SECRET_PREFIX)
            }
    };
    applier
        .remove_pull_secrets(&namespace, "default", stale)
        .await
        .map_err(|e| fail(e, applied.len()))?;
    if shared
        && current.is_none()
        && let Some(name) = &registry_secret
    {
        remove_shared_pull_secret(&applier, &namespace, name, p.docker_registry_id)
            .await
            .map_err(|e| fail(e, applied.len()))?;
    }
    step("Removing objects that are no longer rendered").await;
    let keep: BTreeSet<&ObjectRef> = new.iter().collect();
    let mut pruned = 0;
    for r in old.iter().filter(|r| !keep.contains(r)) {
        // CRDs stay (deleting one deletes every resource of its kind, as Helm knows); others go
        // only while they are still this version's.
        if r.kind == "CustomResourceDefinition" {
            continue;
        }
        if applier
            .delete_if_labelled(r, LABEL_VERSION, &version)
            .await
            .map_err(|e| fail(format!("pruning failed: {e}"), applied.len()))?
        {
            pruned += 1;
        }
    }
    step("Running post-install/post-upgrade hooks").await;
    for (r, m) in hooks(HookPhase::Post) {
        run_hook(d, &applier, r, m).await.map_err(|e| {
            fail(
                format!("post-{phase_name} hook {}: {e}", m.describe()),
                applied.len(),
            )
        })?;
    }
    Ok(Deployed {
        namespace,
        shared,
        hash,
        digest: v.digest.clone(),
        inventory: new,
        pruned,
        skipped_hooks,
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
    let client = d.cluster.client()?;
    let applier = Applier::new(client).await?;
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
