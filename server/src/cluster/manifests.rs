//! ④ What `helm template` printed, made ready to apply: multi-document YAML split into objects,
//! Helm hooks told apart from the main set, our labels stamped on every object (and on pod
//! templates, so the pods of a version can be found and watched), and Argo CD's kind order.
//! Pure: no I/O, unit-tested.

use serde_json::{Map, Value};
use std::collections::BTreeMap;

/// When a Helm hook runs, as far as deploying is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HookPhase {
    /// `pre-install` / `pre-upgrade`: applied and waited for before the main set.
    Pre,
    /// `post-install` / `post-upgrade`: after the main set.
    Post,
}

/// A Helm hook's settings (`helm.sh/hook*` annotations) for this deploy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hook {
    pub phase: HookPhase,
    pub weight: i32,
    /// Delete the previous one before creating it (Helm's default policy).
    pub before_creation: bool,
    pub delete_on_success: bool,
    pub delete_on_failure: bool,
}

/// One object to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct Manifest {
    /// The Helm release (configuration template) it comes from.
    pub release: String,
    pub api_version: String,
    pub kind: String,
    pub name: String,
    /// As the chart wrote it; the target namespace is filled in at apply time.
    pub namespace: Option<String>,
    pub hook: Option<Hook>,
    /// The whole object.
    pub object: Value,
}

impl Manifest {
    /// `Kind/name`, for messages.
    pub fn describe(&self) -> String {
        format!("{}/{}", self.kind, self.name)
    }
}

/// What one release's manifests hold for this deploy.
#[derive(Debug, Default)]
pub struct Parsed {
    pub objects: Vec<Manifest>,
    /// Hooks that do not run on install or upgrade (tests, delete and rollback hooks).
    pub skipped_hooks: Vec<String>,
}

/// Splits `helm template` output into objects. `install`: this is the version's first deploy
/// (`*-install` hooks run), else an upgrade (`*-upgrade` hooks).
pub fn parse(release: &str, yaml: &str, install: bool) -> Result<Parsed, String> {
    let mut out = Parsed::default();
    for (i, doc) in serde_norway::Deserializer::from_str(yaml).enumerate() {
        let value = <serde_norway::Value as serde::Deserialize>::deserialize(doc)
            .map_err(|e| format!("release {release}: document {} is not valid YAML: {e}", i + 1))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value).map_err(|e| {
            format!(
                "release {release}: document {} cannot be used as a Kubernetes object: {e}",
                i + 1
            )
        })?;
        // `kind: List` documents carry their objects in `items`.
        let items = if json.get("kind").and_then(Value::as_str) == Some("List") {
            json.get("items")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default()
        } else {
            vec![json]
        };
        for object in items {
            out.objects.push(manifest(release, object, install, i + 1)?);
        }
    }
    // Hooks that are not for this deploy are reported, not applied.
    let (keep, skipped): (Vec<_>, Vec<_>) = out
        .objects
        .into_iter()
        .partition(|m| m.hook.is_some() || !is_foreign_hook(&m.object));
    out.objects = keep;
    out.skipped_hooks = skipped.iter().map(Manifest::describe).collect();
    Ok(out)
}

fn annotation<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object.pointer("/metadata/annotations")?.get(key)?.as_str()
}

/// A hook annotation whose events are none of the ones this deploy runs.
fn is_foreign_hook(object: &Value) -> bool {
    annotation(object, "helm.sh/hook").is_some()
}

fn manifest(release: &str, object: Value, install: bool, doc: usize) -> Result<Manifest, String> {
    let field = |name: &str| object.get(name).and_then(Value::as_str).map(str::to_owned);
    let (Some(api_version), Some(kind)) = (field("apiVersion"), field("kind")) else {
        return Err(format!(
            "release {release}: document {doc} has no apiVersion and kind, so it is not a Kubernetes object"
        ));
    };
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty())
        .ok_or_else(|| format!("release {release}: {kind} in document {doc} has no metadata.name"))?
        .to_owned();
    let namespace = object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
        .map(str::to_owned);
    let hook = annotation(&object, "helm.sh/hook").and_then(|events| hook(&object, events, install));
    Ok(Manifest {
        release: release.to_owned(),
        api_version,
        kind,
        name,
        namespace,
        hook,
        object,
    })
}

fn hook(object: &Value, events: &str, install: bool) -> Option<Hook> {
    let events: Vec<&str> = events.split(',').map(str::trim).collect();
    let (pre, post) = if install {
        ("pre-install", "post-install")
    } else {
        ("pre-upgrade", "post-upgrade")
    };
    let phase = if events.contains(&pre) {
        HookPhase::Pre
    } else if events.contains(&post) {
        HookPhase::Post
    } else {
        return None;
    };
    let policies: Vec<&str> = annotation(object, "helm.sh/hook-delete-policy")
        .map(|p| p.split(',').map(str::trim).collect())
        .unwrap_or_default();
    Some(Hook {
        phase,
        weight: annotation(object, "helm.sh/hook-weight")
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0),
        // Helm's default when no policy is given.
        before_creation: policies.is_empty() || policies.contains(&"before-hook-creation"),
        delete_on_success: policies.contains(&"hook-succeeded"),
        delete_on_failure: policies.contains(&"hook-failed"),
    })
}

/// Argo CD's apply order (`sync_tasks.go`): namespaces and policies first, then identities,
/// configuration, storage, CRDs, RBAC, services, workloads, and ingresses last. Unknown kinds
/// (custom resources) come after all of these.
const KIND_ORDER: &[&str] = &[
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// The position of `kind` in the apply order.
pub fn kind_rank(kind: &str) -> usize {
    KIND_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(KIND_ORDER.len())
}

/// Sorts for applying: hooks by weight first, then by kind order; ties keep the chart's order.
pub fn sort(objects: &mut [Manifest]) {
    objects.sort_by_key(|m| (m.hook.as_ref().map_or(0, |h| h.weight), kind_rank(&m.kind)));
}

/// Adds `labels` to the object and to the pod templates of workloads, so their pods carry
/// them too. Existing labels of the same key are replaced.
pub fn stamp(object: &mut Value, labels: &BTreeMap<String, String>) {
    add_labels(object, labels);
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    let templates: &[&str] = match kind.as_str() {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" | "Job" | "ReplicationController" => {
            &["/spec/template"]
        }
        "CronJob" => &["/spec/jobTemplate", "/spec/jobTemplate/spec/template"],
        _ => &[],
    };
    for pointer in templates {
        if let Some(t) = object.pointer_mut(pointer).filter(|t| t.is_object()) {
            add_labels(t, labels);
        }
    }
}

fn add_labels(object: &mut Value, labels: &BTreeMap<String, String>) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    let meta = obj.entry("metadata").or_insert_with(|| Value::Object(Map::new()));
    if !meta.is_object() {
        *meta = Value::Object(Map::new());
    }
    let meta = meta.as_object_mut().expect("made an object above");
    let l = meta.entry("labels").or_insert_with(|| Value::Object(Map::new()));
    if !l.is_object() {
        *l = Value::Object(Map::new());
    }
    let l = l.as_object_mut().expect("made an object above");
    for (k, v) in labels {
        l.insert(k.clone(), Value::String(v.clone()));
    }
}

/// Adds an image pull secret to a ServiceAccount object (keeping the chart's own).
pub fn add_pull_secret(object: &mut Value, secret: &str) {
    let Some(obj) = object.as_object_mut() else {
        return;
    };
    let list = obj
        .entry("imagePullSecrets")
        .or_insert_with(|| Value::Array(vec![]));
    if !list.is_array() {
        *list = Value::Array(vec![]);
    }
    let list = list.as_array_mut().expect("made an array above");
    if !list
        .iter()
        .any(|s| s.get("name").and_then(Value::as_str) == Some(secret))
    {
        list.push(serde_json::json!({ "name": secret }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::names::LABEL_VERSION;
    use serde_json::json;

    const CHART: &str = r#"
---
# Source: web/templates/service.yaml
apiVersion: v1
kind: Service
metadata:
  name: web
spec:
  ports: [{port: 80}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: on-shop-main
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers: [{name: web, image: "shop:main"}]
---
apiVersion: batch/v1
kind: Job
metadata:
  name: migrate
  annotations:
    helm.sh/hook: pre-install,pre-upgrade
    helm.sh/hook-weight: "-5"
    helm.sh/hook-delete-policy: hook-succeeded
spec:
  template:
    spec:
      containers: [{name: m, image: "shop:main"}]
---
apiVersion: v1
kind: Pod
metadata:
  name: web-test
  annotations:
    helm.sh/hook: test
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: notify
  annotations:
    helm.sh/hook: post-install
---
---
apiVersion: v1
kind: List
items:
  - {apiVersion: v1, kind: ConfigMap, metadata: {name: a}}
  - {apiVersion: v1, kind: Secret, metadata: {name: b}}
"#;

    #[test]
    fn splits_documents_and_tells_hooks_apart() {
        let p = parse("web", CHART, true).unwrap();
        let names: Vec<String> = p.objects.iter().map(Manifest::describe).collect();
        assert_eq!(
            names,
            [
                "Service/web",
                "Deployment/web",
                "Job/migrate",
                "ConfigMap/notify",
                "ConfigMap/a",
                "Secret/b"
            ]
        );
        assert_eq!(p.skipped_hooks, ["Pod/web-test"]);
        let job = &p.objects[2];
        assert_eq!(
            job.hook,
            Some(Hook {
                phase: HookPhase::Pre,
                weight: -5,
                before_creation: false,
                delete_on_success: true,
                delete_on_failure: false,
            })
        );
        assert_eq!(p.objects[3].hook.as_ref().unwrap().phase, HookPhase::Post);
        assert!(
            p.objects[3].hook.as_ref().unwrap().before_creation,
            "Helm's default policy"
        );
        assert_eq!(p.objects[1].namespace.as_deref(), Some("on-shop-main"));
        // On an upgrade the post-install-only hook does not run.
        let p = parse("web", CHART, false).unwrap();
        assert!(p.skipped_hooks.contains(&"ConfigMap/notify".to_string()));
        assert_eq!(p.objects[2].hook.as_ref().unwrap().phase, HookPhase::Pre);
    }

    #[test]
    fn bad_documents_are_named() {
        let e = parse("web", "kind: Service\nmetadata: {name: x}\n", true).unwrap_err();
        assert!(e.contains("no apiVersion and kind"), "{e}");
        let e = parse("web", "apiVersion: v1\nkind: Service\n", true).unwrap_err();
        assert!(e.contains("Service in document 1 has no metadata.name"), "{e}");
        let e = parse("web", "a: [\n", true).unwrap_err();
        assert!(e.contains("not valid YAML"), "{e}");
    }

    #[test]
    fn kind_order_is_argos() {
        let mut objs = parse("web", CHART, true).unwrap().objects;
        objs.retain(|m| m.hook.is_none());
        sort(&mut objs);
        let kinds: Vec<&str> = objs.iter().map(|m| m.kind.as_str()).collect();
        assert_eq!(kinds, ["Secret", "ConfigMap", "Service", "Deployment"]);
        assert!(kind_rank("Namespace") < kind_rank("CustomResourceDefinition"));
        assert!(kind_rank("CustomResourceDefinition") < kind_rank("Deployment"));
        assert!(
            kind_rank("Ingress") < kind_rank("Certificate"),
            "custom resources last"
        );
    }

    #[test]
    fn labels_reach_pod_templates() {
        let labels = BTreeMap::from([(LABEL_VERSION.to_string(), "7".to_string())]);
        let mut d = json!({"kind": "Deployment", "metadata": {"name": "w", "labels": {"app": "w"}},
            "spec": {"template": {"metadata": {"labels": {"app": "w"}}}}});
        stamp(&mut d, &labels);
        assert_eq!(d["metadata"]["labels"]["o-neko.io/version"], "7");
        assert_eq!(d["metadata"]["labels"]["app"], "w");
        assert_eq!(
            d["spec"]["template"]["metadata"]["labels"]["o-neko.io/version"],
            "7"
        );
        let mut c = json!({"kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"jobTemplate": {"spec": {"template": {"spec": {}}}}}});
        stamp(&mut c, &labels);
        assert_eq!(
            c["spec"]["jobTemplate"]["metadata"]["labels"]["o-neko.io/version"],
            "7"
        );
        assert_eq!(
            c["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["labels"]["o-neko.io/version"],
            "7"
        );
        let mut s = json!({"kind": "ServiceAccount", "metadata": {"name": "sa"},
            "imagePullSecrets": [{"name": "theirs"}]});
        add_pull_secret(&mut s, "ours");
        add_pull_secret(&mut s, "ours");
        assert_eq!(
            s["imagePullSecrets"],
            json!([{"name": "theirs"}, {"name": "ours"}])
        );
    }
}
