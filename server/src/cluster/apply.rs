//! ④ Talks to the cluster for deploys and stops: resolves each object's kind through discovery,
//! applies with server-side apply (field manager `o-neko`), dry-runs first, deletes what a new
//! render no longer has, and waits for hooks and for namespaces to go. Every API error comes back
//! as the API server's own words.

use super::{describe, manifests::Manifest, status};
use crate::{error::kube_message, names::FIELD_MANAGER};
use k8s_openapi::api::core::v1::Namespace;
use kube::{
    Api, Client,
    api::{ApiResource, DeleteParams, DynamicObject, GroupVersionKind, Patch, PatchParams, PostParams},
    discovery::{Discovery, Scope},
};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long a deploy waits for a new namespace's `default` service account to appear.
const ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// One object in the cluster, as the inventory of a deployment keeps it.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// `Kind/name`.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// Server-side apply with O-Neko's field manager.
async fn patch(
    api: &Api<DynamicObject>,
    r: &ObjectRef,
    object: &Value,
    dry_run: bool,
    force: bool,
) -> Result<DynamicObject, kube::Error> {
    let mut pp = PatchParams::apply(FIELD_MANAGER);
    pp.dry_run = dry_run;
    pp.force = force;
    api.patch(&r.name, &pp, &Patch::Apply(object)).await
}

fn gvk(api_version: &str, kind: &str) -> GroupVersionKind {
    match api_version.split_once('/') {
        Some((group, version)) => GroupVersionKind::gvk(group, version, kind),
        None => GroupVersionKind::gvk("", api_version, kind),
    }
}

/// Applies and deletes objects of any kind the cluster knows.
pub struct Applier {
    client: Client,
    discovery: Discovery,
}

impl Applier {
    /// Reads the cluster's API groups: aggregated discovery (two requests, and an unavailable
    /// aggregated API does not fail it), else group by group for older clusters.
    pub async fn new(client: Client) -> Result<Self, String> {
        let discovery = match Discovery::new(client.clone()).run_aggregated().await {
            Ok(d) => d,
            Err(_) => Discovery::new(client.clone())
                .run()
                .await
                .map_err(|e| format!("reading the cluster's API groups failed: {}", describe(&e)))?,
        };
        Ok(Applier { client, discovery })
    }

    /// Reads the API groups again until every `(apiVersion, kind)` resolves (CRDs just applied
    /// take a moment to be served).
    pub async fn refresh_until(
        &mut self,
        kinds: &[(String, String)],
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            self.refresh().await?;
            let missing: Vec<String> = kinds
                .iter()
                .filter(|(v, k)| self.resolve(v, k).is_err())
                .map(|(v, k)| format!("{k} ({v})"))
                .collect();
            if missing.is_empty() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the cluster did not start serving {} within {} s of applying its CRD",
                    missing.join(", "),
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The value of `label` on the object as the cluster has it (`None`: absent, or no label).
    pub async fn label_of(&self, r: &ObjectRef, label: &str) -> Result<Option<Option<String>>, String> {
        Ok(self
            .get(r)
            .await?
            .map(|o| o.metadata.labels.and_then(|l| l.get(label).cloned())))
    }

    /// Deletes the object only if it carries `label` = `value` (it is ours); true when it did.
    pub async fn delete_if_labelled(&self, r: &ObjectRef, label: &str, value: &str) -> Result<bool, String> {
        match self.label_of(r, label).await? {
            Some(Some(v)) if v == value => self.delete(r).await.map(|_| true),
            _ => Ok(false),
        }
    }

    /// Adds `secret` to a service account's image pull secrets with a strategic merge patch
    /// (merged by name: the others stay, and nothing is read and written back).
    pub async fn add_pull_secret(&self, namespace: &str, account: &str, secret: &str) -> Result<(), String> {
        let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), namespace);
        let patch = serde_json::json!({ "imagePullSecrets": [{ "name": secret }] });
        // A new namespace gets its `default` account from the controller manager a moment after
        // it exists: wait for it (up to ACCOUNT_WAIT) rather than fail the deploy.
        let deadline = tokio::time::Instant::now() + ACCOUNT_WAIT;
        loop {
            match api
                .patch(account, &PatchParams::default(), &Patch::Strategic(&patch))
                .await
            {
                Ok(_) => return Ok(()),
                Err(kube::Error::Api(s)) if s.code == 404 && tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(Duration::from_millis(200)).await;
                }
                Err(e) => return Err(format!("ServiceAccount/{account}: {}", kube_message(&e))),
            }
        }
    }

    /// Takes the image pull secrets that `stale` names off a service account (a merge patch of
    /// the list, conditional on the account's resourceVersion; the others stay). An account that
    /// does not exist has none.
    pub async fn remove_pull_secrets(
        &self,
        namespace: &str,
        account: &str,
        stale: impl Fn(&str) -> bool,
    ) -> Result<Vec<String>, String> {
        let api: Api<k8s_openapi::api::core::v1::ServiceAccount> =
            Api::namespaced(self.client.clone(), namespace);
        let describe = |e: &kube::Error| format!("ServiceAccount/{account}: {}", kube_message(e));
        let Some(sa) = api.get_opt(account).await.map_err(|e| describe(&e))? else {
            return Ok(vec![]);
        };
        let list = sa.image_pull_secrets.unwrap_or_default();
        let (removed, kept): (Vec<_>, Vec<_>) = list.into_iter().partition(|s| stale(&s.name));
        if removed.is_empty() {
            return Ok(vec![]);
        }
        let kept = if kept.is_empty() {
            Value::Null
        } else {
            serde_json::to_value(&kept).map_err(|e| e.to_string())?
        };
        let patch = serde_json::json!({
            "metadata": { "resourceVersion": sa.metadata.resource_version },
            "imagePullSecrets": kept,
        });
        api.patch(account, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| describe(&e))?;
        Ok(removed.into_iter().map(|s| s.name).collect())
    }

    /// Reads the API groups again (after CRDs were applied).
    pub async fn refresh(&mut self) -> Result<(), String> {
        *self = Applier::new(self.client.clone()).await?;
        Ok(())
    }

    /// The API resource of a kind and whether it lives in namespaces.
    pub fn resolve(&self, api_version: &str, kind: &str) -> Result<(ApiResource, bool), String> {
        self.discovery
            .resolve_gvk(&gvk(api_version, kind))
            .map(|(ar, caps)| (ar, caps.scope == Scope::Namespaced))
            .ok_or_else(|| format!("the cluster does not know the kind {kind} of API version {api_version}"))
    }

    fn api(&self, r: &ObjectRef) -> Result<Api<DynamicObject>, String> {
        let (ar, namespaced) = self.resolve(&r.api_version, &r.kind)?;
        Ok(match (&r.namespace, namespaced) {
            (Some(ns), true) => Api::namespaced_with(self.client.clone(), ns, &ar),
            _ => Api::all_with(self.client.clone(), &ar),
        })
    }

    /// Puts the object into `namespace` when its kind is namespaced (refusing one the chart put
    /// elsewhere) and returns where it will be.
    pub fn place(&self, m: &mut Manifest, namespace: &str) -> Result<ObjectRef, String> {
        if m.kind == "Namespace" {
            return Err(format!(
                "{} (release {}): charts deployed by O-Neko may not contain namespaces; O-Neko creates the version's namespace itself",
                m.describe(),
                m.release
            ));
        }
        let (_, namespaced) = self.resolve(&m.api_version, &m.kind)?;
        let ns = if namespaced {
            if let Some(other) = m.namespace.as_deref().filter(|n| *n != namespace) {
                return Err(format!(
                    "{} (release {}) is meant for namespace {other}, but this deployment goes to {namespace}; O-Neko keeps a deployment in its namespace",
                    m.describe(),
                    m.release
                ));
            }
            m.namespace = Some(namespace.to_owned());
            if let Some(meta) = m.object.get_mut("metadata").and_then(Value::as_object_mut) {
                meta.insert("namespace".into(), Value::String(namespace.to_owned()));
            }
            Some(namespace.to_owned())
        } else {
            None
        };
        Ok(ObjectRef {
            api_version: m.api_version.clone(),
            kind: m.kind.clone(),
            namespace: ns,
            name: m.name.clone(),
        })
    }

    /// Server-side apply (or its dry run). Conflicts with other field managers are errors.
    pub async fn apply(&self, r: &ObjectRef, object: &Value, dry_run: bool) -> Result<DynamicObject, String> {
        let api = self.api(r)?;
        patch(&api, r, object, dry_run, false)
            .await
            .map_err(|e| format!("{}: {}", r.describe(), kube_message(&e)))
    }

    /// Server-side apply of an object of `version`'s: a conflict over fields someone changed by
    /// hand (`kubectl scale`, `edit`) is resolved by taking them back, as Kubernetes advises
    /// controllers to do, but only while the object in the cluster is labelled as the version's;
    /// anything else keeps its owners and the conflict is the error.
    pub async fn apply_as_version(
        &self,
        r: &ObjectRef,
        object: &Value,
        dry_run: bool,
        version: &str,
    ) -> Result<DynamicObject, String> {
        let api = self.api(r)?;
        let describe = |e: &kube::Error| format!("{}: {}", r.describe(), kube_message(e));
        match patch(&api, r, object, dry_run, false).await {
            Err(e) if status(&e) == Some(409) => {
                let ours = self.get(r).await?.is_some_and(|live| {
                    live.metadata
                        .labels
                        .as_ref()
                        .and_then(|l| l.get(crate::names::LABEL_VERSION))
                        .is_some_and(|v| v == version)
                });
                if !ours {
                    return Err(describe(&e));
                }
                patch(&api, r, object, dry_run, true)
                    .await
                    .map_err(|e| describe(&e))
            }
            other => other.map_err(|e| describe(&e)),
        }
    }

    /// The object as the cluster has it, if it exists.
    pub async fn get(&self, r: &ObjectRef) -> Result<Option<DynamicObject>, String> {
        self.api(r)?
            .get_opt(&r.name)
            .await
            .map_err(|e| format!("{}: {}", r.describe(), kube_message(&e)))
    }

    /// Deletes the object (background propagation); gone already is fine.
    pub async fn delete(&self, r: &ObjectRef) -> Result<(), String> {
        match self.api(r)?.delete(&r.name, &DeleteParams::background()).await {
            Ok(_) => Ok(()),
            Err(e) if status(&e) == Some(404) => Ok(()),
            Err(e) => Err(format!("deleting {}: {}", r.describe(), kube_message(&e))),
        }
    }

    /// Waits until the object is gone (its finalizers done).
    pub async fn wait_gone(&self, r: &ObjectRef, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.get(r).await?.is_none() {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{} was not gone after {} s",
                    r.describe(),
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Waits for a hook to finish: a Job until complete, a Pod until it succeeded; other kinds
    /// are done once applied. A failed Job or Pod is an error with its reason.
    pub async fn wait_hook(&self, r: &ObjectRef, timeout: Duration) -> Result<(), String> {
        if r.kind != "Job" && r.kind != "Pod" {
            return Ok(());
        }
        let deadline = Instant::now() + timeout;
        loop {
            let obj = self
                .get(r)
                .await?
                .ok_or_else(|| format!("hook {} disappeared before it finished", r.describe()))?;
            let status = obj.data.get("status").cloned().unwrap_or(Value::Null);
            if r.kind == "Job" {
                let job: k8s_openapi::api::batch::v1::Job = serde_json::from_value(serde_json::json!({
                    "metadata": {"name": r.name}, "status": status
                }))
                .map_err(|e| format!("hook {}: unreadable status: {e}", r.describe()))?;
                match super::health::job(&job) {
                    super::health::Health::Healthy => return Ok(()),
                    super::health::Health::Degraded(why) => return Err(format!("hook {why}")),
                    super::health::Health::Progressing(_) => {}
                }
            } else {
                match status.get("phase").and_then(Value::as_str) {
                    Some("Succeeded") => return Ok(()),
                    Some("Failed") => return Err(format!("hook Pod/{} failed", r.name)),
                    _ => {}
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "hook {} did not finish within {} s",
                    r.describe(),
                    timeout.as_secs()
                ));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Creates the namespace with `labels` unless it exists (one that exists gets `labels` where
    /// they differ). One that exists must carry `owner` (label, value); one still terminating is
    /// waited for and created anew.
    pub async fn ensure_namespace(
        &self,
        name: &str,
        labels: &std::collections::BTreeMap<String, String>,
        owner: (&str, &str),
        timeout: Duration,
    ) -> Result<(), String> {
        let api: Api<Namespace> = Api::all(self.client.clone());
        let deadline = Instant::now() + timeout;
        loop {
            match api.get_opt(name).await.map_err(|e| describe(&e))? {
                Some(ns) => {
                    let ours = ns
                        .metadata
                        .labels
                        .as_ref()
                        .is_some_and(|l| l.get(owner.0).is_some_and(|v| v == owner.1));
                    if !ours {
                        return Err(format!(
                            "the cluster already has a namespace {name} that does not belong to this version"
                        ));
                    }
                    if ns.metadata.deletion_timestamp.is_none() {
                        // Labels that changed since it was created (the project's Pod Security
                        // level) are brought up to date; the others stay.
                        let current = ns.metadata.labels.unwrap_or_default();
                        if labels.iter().any(|(k, v)| current.get(k) != Some(v)) {
                            let patch = serde_json::json!({ "metadata": { "labels": labels } });
                            api.patch(name, &PatchParams::default(), &Patch::Merge(&patch))
                                .await
                                .map_err(|e| format!("labelling namespace {name}: {}", kube_message(&e)))?;
                        }
                        return Ok(());
                    }
                    // Stopped a moment ago: wait until it is gone, then create it again.
                    if Instant::now() > deadline {
                        return Err(format!("namespace {name} is still terminating"));
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
                None => {
                    let ns = Namespace {
                        metadata: kube::api::ObjectMeta {
                            name: Some(name.to_owned()),
                            labels: Some(labels.clone()),
                            ..Default::default()
                        },
                        ..Default::default()
                    };
                    match api.create(&PostParams::default(), &ns).await {
                        Ok(_) => return Ok(()),
                        // Created at the same moment by someone else: look again.
                        Err(e) if status(&e) == Some(409) => continue,
                        Err(e) => return Err(format!("creating namespace {name}: {}", kube_message(&e))),
                    }
                }
            }
        }
    }

    /// Deletes the namespace and waits until it is gone.
    pub async fn delete_namespace(&self, name: &str, timeout: Duration) -> Result<(), String> {
        let r = ObjectRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            namespace: None,
            name: name.to_owned(),
        };
        self.delete(&r).await?;
        self.wait_gone(&r, timeout).await
    }

    /// Objects of every listable namespaced kind in `namespace` that carry `selector`.
    pub async fn labelled(&self, namespace: &str, selector: &str) -> Result<Vec<ObjectRef>, String> {
        let mut out = vec![];
        for group in self.discovery.groups() {
            for (ar, caps) in group.recommended_resources() {
                if caps.scope != Scope::Namespaced || !caps.supports_operation(kube::discovery::verbs::LIST) {
                    continue;
                }
                // Pods and ReplicaSets belong to their workloads; events are not ours.
                if matches!(
                    ar.kind.as_str(),
                    "Event" | "Pod" | "ReplicaSet" | "ControllerRevision" | "EndpointSlice" | "Endpoints"
                ) {
                    continue;
                }
                let api: Api<DynamicObject> = Api::namespaced_with(self.client.clone(), namespace, &ar);
                let list = match api.list(&kube::api::ListParams::default().labels(selector)).await {
                    Ok(l) => l,
                    // Kinds O-Neko may not read (RBAC) or that are not served are not ones it
                    // applied: skip them.
                    Err(e) if matches!(status(&e), Some(403..=405)) => continue,
                    Err(e) => return Err(format!("listing {}: {}", ar.plural, kube_message(&e))),
                };
                for o in list.items {
                    out.push(ObjectRef {
                        api_version: ar.api_version.clone(),
                        kind: ar.kind.clone(),
                        namespace: Some(namespace.to_owned()),
                        name: o.metadata.name.unwrap_or_default(),
                    });
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::gvk;

    #[test]
    fn api_versions_split_into_group_and_version() {
        let g = gvk("apps/v1", "Deployment");
        assert_eq!(
            (g.group.as_str(), g.version.as_str(), g.kind.as_str()),
            ("apps", "v1", "Deployment")
        );
        let g = gvk("v1", "Service");
        assert_eq!((g.group.as_str(), g.version.as_str()), ("", "v1"));
    }
}
