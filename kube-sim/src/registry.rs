//! The resource types the simulated server knows: built-ins plus those defined by CRDs.

use serde_json::{Value, json};

pub const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];

#[derive(Debug, Clone)]
pub struct ResourceType {
    pub group: String,
    /// Served versions; the first is the storage/preferred version.
    pub versions: Vec<String>,
    pub plural: String,
    pub singular: String,
    pub kind: String,
    pub list_kind: String,
    pub namespaced: bool,
    pub short_names: Vec<String>,
    pub categories: Vec<String>,
    pub verbs: Vec<String>,
    /// Has a `/status` subresource (main writes ignore status, status writes only status).
    pub status: bool,
    pub scale: bool,
    /// Sets and bumps `metadata.generation`.
    pub generation: bool,
    /// Defined by a CustomResourceDefinition.
    pub custom: bool,
    /// Default garbage collection policy when deleting with no propagationPolicy.
    pub orphan_by_default: bool,
}

impl ResourceType {
    /// Store key, independent of version: `apps/deployments`, `/pods`.
    pub fn key(&self) -> String {
        format!("{}/{}", self.group, self.plural)
    }

    pub fn api_version(&self, version: &str) -> String {
        if self.group.is_empty() {
            version.to_string()
        } else {
            format!("{}/{}", self.group, version)
        }
    }

    pub fn preferred_version(&self) -> &str {
        &self.versions[0]
    }

    pub fn discovery_entries(&self) -> Vec<Value> {
        let mut out = vec![];
        let mut main = json!({
            "name": self.plural,
            "singularName": self.singular,
            "namespaced": self.namespaced,
            "kind": self.kind,
            "verbs": self.verbs,
        });
        if !self.short_names.is_empty() {
            main["shortNames"] = json!(self.short_names);
        }
        if !self.categories.is_empty() {
            main["categories"] = json!(self.categories);
        }
        out.push(main);
        if self.status {
            out.push(json!({"name": format!("{}/status", self.plural), "singularName": "", "namespaced": self.namespaced, "kind": self.kind, "verbs": ["get", "patch", "update"]}));
        }
        if self.scale {
            out.push(json!({"name": format!("{}/scale", self.plural), "singularName": "", "namespaced": self.namespaced, "group": "autoscaling", "version": "v1", "kind": "Scale", "verbs": ["get", "patch", "update"]}));
        }
        if self.plural == "pods" && self.group.is_empty() {
            out.push(json!({"name": "pods/log", "singularName": "", "namespaced": true, "kind": "Pod", "verbs": ["get"]}));
        }
        if self.plural == "namespaces" && self.group.is_empty() {
            out.push(json!({"name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]}));
        }
        out
    }
}

struct B {
    group: &'static str,
    version: &'static str,
    plural: &'static str,
    kind: &'static str,
    namespaced: bool,
    short: &'static [&'static str],
    status: bool,
    scale: bool,
    generation: bool,
}

/// A built-in type: cluster-scoped with none of the flags, as the builder methods leave it.
const fn b(group: &'static str, version: &'static str, plural: &'static str, kind: &'static str) -> B {
    B {
        group,
        version,
        plural,
        kind,
        namespaced: false,
        short: &[],
        status: false,
        scale: false,
        generation: false,
    }
}

impl B {
    const fn namespaced(self) -> Self {
        B {
            namespaced: true,
            ..self
        }
    }
    const fn short(self, short: &'static [&'static str]) -> Self {
        B { short, ..self }
    }
    /// Has a status subresource.
    const fn status(self) -> Self {
        B { status: true, ..self }
    }
    /// Has a scale subresource.
    const fn scale(self) -> Self {
        B { scale: true, ..self }
    }
    /// Counts `metadata.generation` on spec changes.
    const fn generation(self) -> Self {
        B {
            generation: true,
            ..self
        }
    }
}

const BUILTINS: &[B] = &[
    b("", "v1", "namespaces", "Namespace").short(&["ns"]).status(),
    b("", "v1", "nodes", "Node").short(&["no"]).status(),
    b("", "v1", "pods", "Pod")
        .namespaced()
        .short(&["po"])
        .status()
        .generation(),
    b("", "v1", "services", "Service")
        .namespaced()
        .short(&["svc"])
        .status(),
    b("", "v1", "configmaps", "ConfigMap").namespaced().short(&["cm"]),
    b("", "v1", "secrets", "Secret").namespaced(),
    b("", "v1", "serviceaccounts", "ServiceAccount")
        .namespaced()
        .short(&["sa"]),
    b("", "v1", "events", "Event").namespaced().short(&["ev"]),
    b("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim")
        .namespaced()
        .short(&["pvc"])
        .status(),
    b("", "v1", "persistentvolumes", "PersistentVolume")
        .short(&["pv"])
        .status(),
    b("", "v1", "endpoints", "Endpoints").namespaced().short(&["ep"]),
    b("", "v1", "resourcequotas", "ResourceQuota")
        .namespaced()
        .short(&["quota"])
        .status(),
    b("", "v1", "limitranges", "LimitRange")
        .namespaced()
        .short(&["limits"]),
    b("", "v1", "replicationcontrollers", "ReplicationController")
        .namespaced()
        .short(&["rc"])
        .status()
        .scale()
        .generation(),
    b("apps", "v1", "deployments", "Deployment")
        .namespaced()
        .short(&["deploy"])
        .status()
        .scale()
        .generation(),
    b("apps", "v1", "replicasets", "ReplicaSet")
        .namespaced()
        .short(&["rs"])
        .status()
        .scale()
        .generation(),
    b("apps", "v1", "statefulsets", "StatefulSet")
        .namespaced()
        .short(&["sts"])
        .status()
        .scale()
        .generation(),
    b("apps", "v1", "daemonsets", "DaemonSet")
        .namespaced()
        .short(&["ds"])
        .status()
        .generation(),
    b("apps", "v1", "controllerrevisions", "ControllerRevision").namespaced(),
    b("batch", "v1", "jobs", "Job").namespaced().status().generation(),
    b("batch", "v1", "cronjobs", "CronJob")
        .namespaced()
        .short(&["cj"])
        .status()
        .generation(),
    b("networking.k8s.io", "v1", "ingresses", "Ingress")
        .namespaced()
        .short(&["ing"])
        .status()
        .generation(),
    b("networking.k8s.io", "v1", "networkpolicies", "NetworkPolicy")
        .namespaced()
        .short(&["netpol"])
        .generation(),
    b("networking.k8s.io", "v1", "ingressclasses", "IngressClass"),
    b("rbac.authorization.k8s.io", "v1", "roles", "Role").namespaced(),
    b("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding").namespaced(),
    b("rbac.authorization.k8s.io", "v1", "clusterroles", "ClusterRole"),
    b(
        "rbac.authorization.k8s.io",
        "v1",
        "clusterrolebindings",
        "ClusterRoleBinding",
    ),
    b("policy", "v1", "poddisruptionbudgets", "PodDisruptionBudget")
        .namespaced()
        .short(&["pdb"])
        .status()
        .generation(),
    b(
        "autoscaling",
        "v2",
        "horizontalpodautoscalers",
        "HorizontalPodAutoscaler",
    )
    .namespaced()
    .short(&["hpa"])
    .status(),
    b("coordination.k8s.io", "v1", "leases", "Lease").namespaced(),
    b(
        "apiextensions.k8s.io",
        "v1",
        "customresourcedefinitions",
        "CustomResourceDefinition",
    )
    .short(&["crd", "crds"])
    .status()
    .generation(),
    b("storage.k8s.io", "v1", "storageclasses", "StorageClass").short(&["sc"]),
];

/// Groups in the order the real apiserver lists them.
pub const GROUP_ORDER: &[&str] = &[
    "apiextensions.k8s.io",
    "apps",
    "autoscaling",
    "batch",
    "networking.k8s.io",
    "policy",
    "rbac.authorization.k8s.io",
    "storage.k8s.io",
    "coordination.k8s.io",
];

fn all_category(plural: &str) -> bool {
    matches!(
        plural,
        "pods"
            | "services"
            | "replicationcontrollers"
            | "deployments"
            | "replicasets"
            | "statefulsets"
            | "daemonsets"
            | "jobs"
            | "cronjobs"
            | "horizontalpodautoscalers"
    )
}

pub fn builtins() -> Vec<ResourceType> {
    BUILTINS
        .iter()
        .map(|b| {
            let mut verbs: Vec<String> = ALL_VERBS.iter().map(|s| s.to_string()).collect();
            if b.plural == "namespaces" {
                verbs.retain(|v| v != "deletecollection");
            }
            ResourceType {
                group: b.group.into(),
                versions: vec![b.version.into()],
                plural: b.plural.into(),
                singular: b.kind.to_lowercase(),
                kind: b.kind.into(),
                list_kind: format!("{}List", b.kind),
                namespaced: b.namespaced,
                short_names: b.short.iter().map(|s| s.to_string()).collect(),
                categories: if all_category(b.plural) {
                    vec!["all".into()]
                } else {
                    vec![]
                },
                verbs,
                status: b.status,
                scale: b.scale,
                generation: b.generation,
                custom: false,
                orphan_by_default: matches!(b.plural, "jobs" | "replicationcontrollers"),
            }
        })
        .collect()
}

/// Builds the resource type described by a (stored) CRD object, if it is well formed.
pub fn from_crd(crd: &Value) -> Option<ResourceType> {
    let spec = crd.get("spec")?;
    let group = spec.get("group")?.as_str()?.to_string();
    let names = spec.get("names")?;
    let plural = names.get("plural")?.as_str()?.to_string();
    let kind = names.get("kind")?.as_str()?.to_string();
    let singular = names
        .get("singular")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| kind.to_lowercase());
    let list_kind = names
        .get("listKind")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("{kind}List"));
    let strs = |v: Option<&Value>| -> Vec<String> {
        v.and_then(Value::as_array)
            .map(|a| a.iter().filter_map(|s| s.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let short_names = strs(names.get("shortNames"));
    let categories = strs(names.get("categories"));
    let namespaced = spec.get("scope").and_then(Value::as_str) != Some("Cluster");
    let versions_v = spec.get("versions")?.as_array()?;
    let mut versions: Vec<(bool, String, &Value)> = versions_v
        .iter()
        .filter(|v| v.get("served").and_then(Value::as_bool).unwrap_or(true))
        .filter_map(|v| {
            Some((
                v.get("storage").and_then(Value::as_bool).unwrap_or(false),
                v.get("name")?.as_str()?.to_string(),
                v,
            ))
        })
        .collect();
    if versions.is_empty() {
        return None;
    }
    versions.sort_by_key(|(storage, _, _)| !*storage);
    let status = versions
        .iter()
        .any(|(_, _, v)| v.pointer("/subresources/status").is_some());
    let scale = versions
        .iter()
        .any(|(_, _, v)| v.pointer("/subresources/scale").is_some());
    Some(ResourceType {
        group,
        versions: versions.iter().map(|(_, n, _)| n.clone()).collect(),
        plural,
        singular,
        kind,
        list_kind,
        namespaced,
        short_names,
        categories,
        verbs: ALL_VERBS.iter().map(|s| s.to_string()).collect(),
        status,
        scale,
        generation: true,
        custom: true,
        orphan_by_default: false,
    })
}

#[derive(Debug, Clone, Default)]
pub struct Registry {
    pub types: Vec<ResourceType>,
}

impl Registry {
    pub fn new() -> Self {
        Registry { types: builtins() }
    }

    pub fn lookup(&self, group: &str, version: &str, plural: &str) -> Option<&ResourceType> {
        self.types
            .iter()
            .find(|t| t.group == group && t.plural == plural && t.versions.iter().any(|v| v == version))
    }

    pub fn by_key(&self, key: &str) -> Option<&ResourceType> {
        self.types.iter().find(|t| t.key() == key)
    }

    pub fn by_kind(&self, api_version: &str, kind: &str) -> Option<&ResourceType> {
        let (group, version) = match api_version.split_once('/') {
            Some((g, v)) => (g, v),
            None => ("", api_version),
        };
        self.types
            .iter()
            .find(|t| t.group == group && t.kind == kind && t.versions.iter().any(|v| v == version))
    }

    pub fn group_exists(&self, group: &str, version: &str) -> bool {
        self.types
            .iter()
            .any(|t| t.group == group && t.versions.iter().any(|v| v == version))
    }

    /// Replaces the CRD-defined types with those defined by `crds`.
    pub fn set_crds<'a>(&mut self, crds: impl Iterator<Item = &'a Value>) {
        self.types.retain(|t| !t.custom);
        for crd in crds {
            if crd.pointer("/metadata/deletionTimestamp").is_some() {
                continue;
            }
            if let Some(rt) = from_crd(crd)
                && self.types.iter().all(|t| t.key() != rt.key())
            {
                self.types.push(rt);
            }
        }
    }

    /// (group, versions) for every API group other than core, in a stable order.
    pub fn groups(&self) -> Vec<(String, Vec<String>)> {
        let mut out: Vec<(String, Vec<String>)> = vec![];
        for t in &self.types {
            if t.group.is_empty() {
                continue;
            }
            match out.iter_mut().find(|(g, _)| *g == t.group) {
                Some((_, vs)) => {
                    for v in &t.versions {
                        if !vs.contains(v) {
                            vs.push(v.clone());
                        }
                    }
                }
                None => out.push((t.group.clone(), t.versions.clone())),
            }
        }
        out.sort_by_key(|(g, _)| {
            GROUP_ORDER
                .iter()
                .position(|x| x == g)
                .unwrap_or(GROUP_ORDER.len())
        });
        out
    }
}
