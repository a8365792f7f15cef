//! A project's deployment policy, like Argo CD's AppProject: which namespaced and cluster-scoped
//! kinds its charts may create, which defined namespaces it may deploy into, and the Pod Security
//! level of its namespaces. The deploy checks the whole rendered set against it before anything
//! is applied (`check`), and the pod rules of the Pod Security Standards are checked here too,
//! since the simulated cluster (and a cluster without Pod Security admission) does not enforce
//! the namespace label. Pure: no I/O, unit-tested.

use super::manifests::Manifest;
use crate::{auth::Validator, db::entity::project};
use app::{
    error::AppError,
    model::{PodSecurityLevel, ProjectPolicy},
};
use serde_json::Value;
use std::collections::BTreeMap;

/// The Pod Security admission labels O-Neko puts on the namespaces it creates.
pub const PSA_ENFORCE: &str = "pod-security.kubernetes.io/enforce";
pub const PSA_ENFORCE_VERSION: &str = "pod-security.kubernetes.io/enforce-version";

/// Most patterns a list may hold.
const MAX_PATTERNS: usize = 200;

/// The Pod Security admission labels for `level`.
pub fn namespace_labels(level: PodSecurityLevel) -> BTreeMap<String, String> {
    BTreeMap::from([
        (PSA_ENFORCE.to_string(), level.as_str().to_string()),
        (PSA_ENFORCE_VERSION.to_string(), "latest".to_string()),
    ])
}

/// The project's stored policy; missing parts are the defaults.
pub fn of_project(p: &project::Model) -> ProjectPolicy {
    let d = ProjectPolicy::default();
    let list = |s: &Option<String>, default: Vec<String>| {
        s.as_deref()
            .and_then(|s| serde_json::from_str::<Vec<String>>(s).ok())
            .unwrap_or(default)
    };
    ProjectPolicy {
        kinds: list(&p.policy_kinds, d.kinds),
        cluster_kinds: list(&p.policy_cluster_kinds, d.cluster_kinds),
        namespaces: list(&p.policy_namespaces, d.namespaces),
        pod_security: p
            .pod_security
            .as_deref()
            .and_then(|s| s.parse().ok())
            .unwrap_or(d.pod_security),
    }
}

/// The columns that store `policy`: kinds, cluster kinds, namespaces (JSON lists) and level.
pub fn columns(policy: &ProjectPolicy) -> [Option<String>; 4] {
    let json = |l: &Vec<String>| Some(serde_json::to_string(l).unwrap_or_else(|_| "[]".into()));
    [
        json(&policy.kinds),
        json(&policy.cluster_kinds),
        json(&policy.namespaces),
        Some(policy.pod_security.as_str().to_owned()),
    ]
}

/// A kind pattern as the policy accepts it: `*`, `Kind`, `group/Kind`, `group/*`, `*/Kind`,
/// `core/Kind` (the core group).
fn valid_pattern(p: &str) -> bool {
    let kind_ok = |k: &str| {
        k == "*"
            || (k.len() <= 63
                && k.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && k.chars().all(|c| c.is_ascii_alphanumeric()))
    };
    match p.split_once('/') {
        None => kind_ok(p),
        Some((g, k)) => {
            let group_ok = g == "*"
                || (!g.is_empty()
                    && g.len() <= 253
                    && g.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
                    && !g.starts_with(['-', '.'])
                    && !g.ends_with(['-', '.']));
            group_ok && kind_ok(k)
        }
    }
}

/// Checks and tidies a policy an ADMIN saves: patterns trimmed, empty lines and duplicates
/// dropped; every pattern and namespace name must be well-formed.
pub fn validate(policy: ProjectPolicy) -> Result<ProjectPolicy, AppError> {
    let mut v = Validator::default();
    let tidy = |list: Vec<String>| {
        let mut out: Vec<String> = vec![];
        for p in list.iter().map(|p| p.trim()).filter(|p| !p.is_empty()) {
            if !out.iter().any(|o| o == p) {
                out.push(p.to_owned());
            }
        }
        out
    };
    let kinds = tidy(policy.kinds);
    let cluster_kinds = tidy(policy.cluster_kinds);
    let namespaces = tidy(policy.namespaces);
    for (field, list) in [("kinds", &kinds), ("cluster_kinds", &cluster_kinds)] {
        let bad: Vec<&str> = list
            .iter()
            .filter(|p| !valid_pattern(p))
            .map(String::as_str)
            .collect();
        if !bad.is_empty() {
            v.fail(
                field,
                format!(
                    "Not a kind pattern: {}. Write Kind, group/Kind, group/* or * (e.g. DaemonSet, rbac.authorization.k8s.io/RoleBinding).",
                    bad.join(", ")
                ),
            );
        } else if list.len() > MAX_PATTERNS {
            v.fail(field, format!("At most {MAX_PATTERNS} patterns."));
        }
    }
    let namespace_ok = |n: &str| {
        n == "*"
            || (n.len() <= 63
                && n.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
                && !n.starts_with('-')
                && !n.ends_with('-'))
    };
    let bad: Vec<&str> = namespaces
        .iter()
        .filter(|n| !namespace_ok(n))
        .map(String::as_str)
        .collect();
    if !bad.is_empty() {
        v.fail(
            "namespaces",
            format!(
                "Not a namespace name: {}. Write defined namespaces' names (e.g. on-team-a) or * for all of them.",
                bad.join(", ")
            ),
        );
    } else if namespaces.len() > MAX_PATTERNS {
        v.fail("namespaces", format!("At most {MAX_PATTERNS} namespaces."));
    }
    v.finish()?;
    Ok(ProjectPolicy {
        kinds,
        cluster_kinds,
        namespaces,
        pod_security: policy.pod_security,
    })
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → the core group `""`).
pub fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// Kubernetes' own API groups (the core group, groups without a dot, `*.k8s.io` and
/// `*.kubernetes.io`), as opposed to custom resources' groups (which need a dot and may not use
/// those suffixes without approval).
fn builtin_group(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io") || group.ends_with(".kubernetes.io")
}

/// Whether a kind pattern covers `group`/`kind`: `*` everything; `Kind` that kind in
/// Kubernetes' own groups (so `Service` is not Knative's `serving.knative.dev/Service`);
/// `group/Kind` and `group/*` exactly that group (`core` is the core group); `*/Kind` that kind
/// in any group. Kinds compare ignoring case.
pub fn kind_matches(pattern: &str, group: &str, kind: &str) -> bool {
    let pattern = pattern.trim();
    if pattern == "*" {
        return true;
    }
    let (pattern_group, pattern_kind) = match pattern.split_once('/') {
        Some((g, k)) => (Some(g), k),
        None => (None, pattern),
    };
    let kind_ok = pattern_kind == "*" || pattern_kind.eq_ignore_ascii_case(kind);
    let group_ok = match pattern_group {
        None => builtin_group(group),
        Some("*") => true,
        Some("core") => group.is_empty(),
        Some(g) => g.eq_ignore_ascii_case(group),
    };
    kind_ok && group_ok
}

/// Whether the policy lets a chart create `group`/`kind` (`namespaced`: where the cluster
/// serves it).
pub fn allows_kind(policy: &ProjectPolicy, group: &str, kind: &str, namespaced: bool) -> bool {
    let list = if namespaced {
        &policy.kinds
    } else {
        &policy.cluster_kinds
    };
    list.iter().any(|p| kind_matches(p, group, kind))
}

/// Whether the project may deploy into the defined namespace `name` (its own per-version
/// namespaces are always allowed).
pub fn allows_namespace(policy: &ProjectPolicy, name: &str) -> bool {
    policy.namespaces.iter().any(|n| n == "*" || n == name)
}

/// The refusal of a defined namespace the policy does not list.
pub fn namespace_refusal(policy: &ProjectPolicy, project: &str, name: &str) -> String {
    format!(
        "namespace {name} is not allowed by project {project}'s policy (allowed: {}); an ADMIN can allow it on the project page",
        if policy.namespaces.is_empty() {
            "only the project's own per-version namespaces".to_string()
        } else {
            policy.namespaces.join(", ")
        }
    )
}

/// `Kind` for Kubernetes' own kinds, `group/Kind` for custom resources: what a pattern that
/// allows it looks like.
fn qualified(group: &str, kind: &str) -> String {
    if builtin_group(group) {
        kind.to_owned()
    } else {
        format!("{group}/{kind}")
    }
}

/// The pod templates (objects with `metadata` and `spec`) of Kubernetes' own workload kinds.
/// Pods of custom resources are left to the cluster's admission.
pub fn pod_templates<'a>(group: &str, kind: &str, object: &'a Value) -> Vec<&'a Value> {
    let pointer = match (group, kind) {
        ("", "Pod") => "",
        ("apps", "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet")
        | ("", "ReplicationController")
        | ("batch", "Job") => "/spec/template",
        ("batch", "CronJob") => "/spec/jobTemplate/spec/template",
        _ => return vec![],
    };
    object
        .pointer(pointer)
        .filter(|t| t.is_object())
        .into_iter()
        .collect()
}

/// Capabilities the baseline level lets containers add (Pod Security Standards).
const BASELINE_CAPABILITIES: &[&str] = &[
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
];

/// Sysctls the baseline level allows.
const SAFE_SYSCTLS: &[&str] = &[
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
];

/// Volume types the restricted level allows.
const RESTRICTED_VOLUMES: &[&str] = &[
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn str_at<'a>(v: Option<&'a Value>, pointer: &str) -> Option<&'a str> {
    v?.pointer(pointer)?.as_str()
}

fn array<'a>(v: Option<&'a Value>, key: &str) -> &'a [Value] {
    v.and_then(|v| v.get(key))
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Violations of a pod's or container's security context (`whose` names it).
fn context_violations(sc: Option<&Value>, whose: &str, out: &mut Vec<String>) {
    if is_true(sc.and_then(|s| s.pointer("/windowsOptions/hostProcess"))) {
        out.push(format!("hostProcess: true ({whose})"));
    }
    if let Some(se) = sc.and_then(|s| s.get("seLinuxOptions")) {
        let t = se.get("type").and_then(Value::as_str).unwrap_or("");
        if !matches!(
            t,
            "" | "container_t" | "container_init_t" | "container_kvm_t" | "container_engine_t"
        ) {
            out.push(format!("SELinux type {t} ({whose})"));
        }
        for f in ["user", "role"] {
            if se.get(f).and_then(Value::as_str).is_some_and(|s| !s.is_empty()) {
                out.push(format!("SELinux {f} ({whose})"));
            }
        }
    }
    if str_at(sc, "/seccompProfile/type") == Some("Unconfined") {
        out.push(format!("seccomp profile Unconfined ({whose})"));
    }
    if str_at(sc, "/appArmorProfile/type") == Some("Unconfined") {
        out.push(format!("AppArmor profile Unconfined ({whose})"));
    }
}

/// Violations of one container (init and ephemeral ones too); `pod`: the pod's `runAsNonRoot`
/// and seccomp profile type, which a container inherits.
fn container_violations(
    c: &Value,
    restricted: bool,
    pod: (Option<bool>, Option<&str>),
    out: &mut Vec<String>,
) {
    let (pod_non_root, pod_seccomp) = pod;
    let name = c.get("name").and_then(Value::as_str).unwrap_or("?");
    let whose = format!("container {name}");
    let sc = c.get("securityContext");
    if is_true(sc.and_then(|s| s.get("privileged"))) {
        out.push(format!("privileged: true ({whose})"));
    }
    context_violations(sc, &whose, out);
    if let Some(p) = sc
        .and_then(|s| s.get("procMount"))
        .and_then(Value::as_str)
        .filter(|p| *p != "Default")
    {
        out.push(format!("procMount {p} ({whose})"));
    }
    for port in array(Some(c), "ports") {
        if let Some(hp) = port.get("hostPort").and_then(Value::as_i64).filter(|p| *p != 0) {
            out.push(format!("hostPort {hp} ({whose})"));
        }
    }
    let caps = sc.and_then(|s| s.get("capabilities"));
    for cap in array(caps, "add").iter().filter_map(Value::as_str) {
        let allowed = if restricted {
            cap == "NET_BIND_SERVICE"
        } else {
            BASELINE_CAPABILITIES.contains(&cap)
        };
        if !allowed {
            out.push(format!("capability {cap} ({whose})"));
        }
    }
    if !restricted {
        return;
    }
    if sc
        .and_then(|s| s.get("allowPrivilegeEscalation"))
        .and_then(Value::as_bool)
        != Some(false)
    {
        out.push(format!("no allowPrivilegeEscalation: false ({whose})"));
    }
    let non_root = sc
        .and_then(|s| s.get("runAsNonRoot"))
        .and_then(Value::as_bool)
        .or(pod_non_root);
    if non_root != Some(true) {
        out.push(format!("no runAsNonRoot: true ({whose})"));
    }
    if sc.and_then(|s| s.get("runAsUser")).and_then(Value::as_i64) == Some(0) {
        out.push(format!("runAsUser 0 ({whose})"));
    }
    if !matches!(
        str_at(sc, "/seccompProfile/type").or(pod_seccomp),
        Some("RuntimeDefault" | "Localhost")
    ) {
        out.push(format!(
            "no seccomp profile RuntimeDefault or Localhost ({whose})"
        ));
    }
    if !array(caps, "drop").iter().any(|d| d.as_str() == Some("ALL")) {
        out.push(format!("capabilities not dropped (drop: [ALL]) ({whose})"));
    }
}

/// What in a pod template the Pod Security Standards forbid at `level`, in words
/// (`hostNetwork: true`, `hostPath volume root (/)`, `privileged container agent`…). Mirrors the
/// baseline and restricted policies Kubernetes' Pod Security admission enforces.
pub fn pod_violations(level: PodSecurityLevel, template: &Value) -> Vec<String> {
    let mut out: Vec<String> = vec![];
    if level == PodSecurityLevel::Privileged {
        return out;
    }
    let restricted = level == PodSecurityLevel::Restricted;
    let spec = template.get("spec");
    let pod_sc = spec.and_then(|s| s.get("securityContext"));
    // Host namespaces.
    for field in ["hostNetwork", "hostPID", "hostIPC"] {
        if is_true(spec.and_then(|s| s.get(field))) {
            out.push(format!("{field}: true"));
        }
    }
    // Volumes: no host paths; at restricted, only ordinary volume types.
    for vol in array(spec, "volumes") {
        let name = vol.get("name").and_then(Value::as_str).unwrap_or("?");
        if let Some(h) = vol.get("hostPath") {
            out.push(format!(
                "hostPath volume {name} ({})",
                h.get("path").and_then(Value::as_str).unwrap_or("?")
            ));
        } else if restricted {
            for kind in vol
                .as_object()
                .into_iter()
                .flat_map(|o| o.keys())
                .filter(|k| *k != "name" && !RESTRICTED_VOLUMES.contains(&k.as_str()))
            {
                out.push(format!("{kind} volume {name}"));
            }
        }
    }
    context_violations(pod_sc, "pod", &mut out);
    for s in array(pod_sc, "sysctls") {
        let name = s.get("name").and_then(Value::as_str).unwrap_or("?");
        if !SAFE_SYSCTLS.contains(&name) {
            out.push(format!("sysctl {name}"));
        }
    }
    if let Some(annotations) = template
        .pointer("/metadata/annotations")
        .and_then(Value::as_object)
    {
        for (k, v) in annotations {
            if let Some(container) = k.strip_prefix("container.apparmor.security.beta.kubernetes.io/") {
                let v = v.as_str().unwrap_or("");
                if v != "runtime/default" && !v.starts_with("localhost/") {
                    out.push(format!("AppArmor profile {v} (container {container})"));
                }
            }
        }
    }
    let pod_non_root = pod_sc
        .and_then(|s| s.get("runAsNonRoot"))
        .and_then(Value::as_bool);
    let pod_seccomp = str_at(pod_sc, "/seccompProfile/type");
    if restricted && pod_sc.and_then(|s| s.get("runAsUser")).and_then(Value::as_i64) == Some(0) {
        out.push("runAsUser 0 (pod)".into());
    }
    // Every container, init and ephemeral container.
    for list in ["containers", "initContainers", "ephemeralContainers"] {
        for c in array(spec, list) {
            container_violations(c, restricted, (pod_non_root, pod_seccomp), &mut out);
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(v.clone()));
    out
}

/// Checks the whole rendered set against the project's policy before anything is applied: each
/// object's kind against the allow-list for its scope (`namespaced` says where the cluster
/// serves it, or why it cannot tell), and every pod template against the Pod Security level.
/// The refusal names every offending object (kind/name and release) and the rule.
pub fn check(
    policy: &ProjectPolicy,
    project: &str,
    objects: &[Manifest],
    namespaced: impl Fn(&Manifest) -> Result<bool, String>,
) -> Result<(), String> {
    let mut problems = vec![];
    let (mut kinds, mut pods) = (false, false);
    let list = |l: &[String]| {
        if l.is_empty() {
            "none".to_string()
        } else {
            l.join(", ")
        }
    };
    for m in objects {
        let group = group_of(&m.api_version);
        let at = format!("{} (release {})", m.describe(), m.release);
        // Whatever the policy says: O-Neko creates and labels the namespaces itself.
        if group.is_empty() && m.kind == "Namespace" {
            problems.push(format!(
                "{at}: charts deployed by O-Neko may not contain namespaces; O-Neko creates the version's namespace itself"
            ));
            continue;
        }
        let in_namespace = namespaced(m)?;
        if !allows_kind(policy, group, &m.kind, in_namespace) {
            kinds = true;
            let (what, allowed) = if in_namespace {
                ("kind", &policy.kinds)
            } else {
                ("cluster-scoped kind", &policy.cluster_kinds)
            };
            problems.push(format!(
                "{at}: {what} {} is not allowed by project {project}'s policy (allowed: {})",
                qualified(group, &m.kind),
                list(allowed)
            ));
            continue;
        }
        let found: Vec<String> = pod_templates(group, &m.kind, &m.object)
            .into_iter()
            .flat_map(|t| pod_violations(policy.pod_security, t))
            .collect();
        if !found.is_empty() {
            pods = true;
            problems.push(format!(
                "{at}: Pod Security level {} of project {project}'s policy forbids {}",
                policy.pod_security.as_str(),
                found.join(", ")
            ));
        }
    }
    if problems.is_empty() {
        return Ok(());
    }
    let advice = match (kinds, pods) {
        (true, false) => "; an ADMIN can allow it on the project page",
        (false, true) => "; an ADMIN can choose another Pod Security level on the project page",
        (true, true) => "; an ADMIN can change the deployment policy on the project page",
        (false, false) => "",
    };
    Err(format!("{}{advice}. Nothing was applied.", problems.join("; ")))
}

/// Where the custom resources of CRDs in the same set live: `(group, kind)` → namespaced.
pub fn crd_scopes(objects: &[Manifest]) -> BTreeMap<(String, String), bool> {
    objects
        .iter()
        .filter(|m| m.kind == "CustomResourceDefinition")
        .filter_map(|m| {
            let group = m.object.pointer("/spec/group")?.as_str()?;
            let kind = m.object.pointer("/spec/names/kind")?.as_str()?;
            let scope = m
                .object
                .pointer("/spec/scope")
                .and_then(Value::as_str)
                .unwrap_or("Namespaced");
            Some(((group.to_owned(), kind.to_owned()), scope == "Namespaced"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(object: Value) -> Manifest {
        Manifest {
            release: "web".into(),
            api_version: object["apiVersion"].as_str().unwrap().into(),
            kind: object["kind"].as_str().unwrap().into(),
            name: object["metadata"]["name"].as_str().unwrap().into(),
            namespace: None,
            hook: None,
            object,
        }
    }

    fn workload(kind: &str, pod_spec: Value) -> Manifest {
        manifest(
            json!({"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "agent"},
            "spec": {"template": {"metadata": {}, "spec": pod_spec}}}),
        )
    }

    fn namespaced_unless_cluster_kind(m: &Manifest) -> Result<bool, String> {
        Ok(!matches!(
            m.kind.as_str(),
            "ClusterRole" | "ClusterRoleBinding" | "CustomResourceDefinition" | "StorageClass"
        ))
    }

    #[test]
    fn kind_patterns() {
        // A bare kind: Kubernetes' own groups only.
        assert!(kind_matches("Deployment", "apps", "Deployment"));
        assert!(kind_matches("deployment", "apps", "Deployment"), "ignoring case");
        assert!(kind_matches("Service", "", "Service"));
        assert!(kind_matches("Ingress", "networking.k8s.io", "Ingress"));
        assert!(
            !kind_matches("Service", "serving.knative.dev", "Service"),
            "Knative's Service runs pods: not covered by the core kind"
        );
        assert!(!kind_matches("Deployment", "apps", "DaemonSet"));
        // group/Kind, group/*, core/Kind, */Kind, *.
        assert!(kind_matches(
            "rbac.authorization.k8s.io/RoleBinding",
            "rbac.authorization.k8s.io",
            "RoleBinding"
        ));
        assert!(!kind_matches(
            "apps/RoleBinding",
            "rbac.authorization.k8s.io",
            "RoleBinding"
        ));
        assert!(kind_matches(
            "cert-manager.io/*",
            "cert-manager.io",
            "Certificate"
        ));
        assert!(!kind_matches(
            "cert-manager.io/*",
            "acme.cert-manager.io",
            "Order"
        ));
        assert!(kind_matches("core/Secret", "", "Secret"));
        assert!(!kind_matches("core/Secret", "apps", "Secret"));
        assert!(kind_matches("*/Service", "serving.knative.dev", "Service"));
        assert!(kind_matches("*", "anything.example.com", "Whatever"));
        assert_eq!(group_of("apps/v1"), "apps");
        assert_eq!(group_of("v1"), "");
    }

    #[test]
    fn the_defaults_allow_apps_and_nothing_cluster_wide() {
        let p = ProjectPolicy::default();
        for (g, k) in [
            ("apps", "Deployment"),
            ("apps", "StatefulSet"),
            ("batch", "Job"),
            ("batch", "CronJob"),
            ("", "Service"),
            ("", "ConfigMap"),
            ("", "Secret"),
            ("", "ServiceAccount"),
            ("", "PersistentVolumeClaim"),
            ("networking.k8s.io", "Ingress"),
            ("networking.k8s.io", "NetworkPolicy"),
            ("autoscaling", "HorizontalPodAutoscaler"),
            ("policy", "PodDisruptionBudget"),
        ] {
            assert!(allows_kind(&p, g, k, true), "{g}/{k}");
        }
        for (g, k) in [
            ("apps", "DaemonSet"),
            ("rbac.authorization.k8s.io", "Role"),
            ("rbac.authorization.k8s.io", "RoleBinding"),
            ("", "ResourceQuota"),
            ("monitoring.coreos.com", "ServiceMonitor"),
        ] {
            assert!(!allows_kind(&p, g, k, true), "{g}/{k}");
        }
        for (g, k) in [
            ("rbac.authorization.k8s.io", "ClusterRole"),
            ("rbac.authorization.k8s.io", "ClusterRoleBinding"),
            ("apiextensions.k8s.io", "CustomResourceDefinition"),
            // A namespaced kind's name does not let a cluster-scoped one through.
            ("", "Secret"),
        ] {
            assert!(!allows_kind(&p, g, k, false), "{g}/{k}");
        }
        assert!(
            allows_namespace(&p, "on-shared"),
            "any defined namespace by default"
        );
        let only = ProjectPolicy {
            namespaces: vec!["on-team-a".into()],
            ..ProjectPolicy::default()
        };
        assert!(allows_namespace(&only, "on-team-a"));
        assert!(!allows_namespace(&only, "on-team-b"));
        let none = ProjectPolicy {
            namespaces: vec![],
            ..ProjectPolicy::default()
        };
        assert!(!allows_namespace(&none, "on-team-a"));
        assert!(
            namespace_refusal(&none, "Shop", "on-team-a")
                .contains("only the project's own per-version namespaces")
        );
    }

    #[test]
    fn validation_tidies_and_refuses_nonsense() {
        let p = validate(ProjectPolicy {
            kinds: vec![
                " Deployment ".into(),
                "".into(),
                "Deployment".into(),
                "cert-manager.io/*".into(),
            ],
            cluster_kinds: vec!["*".into()],
            namespaces: vec!["on-team-a".into(), "*".into()],
            pod_security: PodSecurityLevel::Restricted,
        })
        .unwrap();
        assert_eq!(p.kinds, ["Deployment", "cert-manager.io/*"]);
        assert_eq!(p.cluster_kinds, ["*"]);
        for bad in ["apps/", "/Deployment", "Deploy ment", "Apps/Deployment", "1Kind"] {
            let e = validate(ProjectPolicy {
                kinds: vec![bad.into()],
                ..ProjectPolicy::default()
            })
            .unwrap_err();
            assert!(e.field("kinds").is_some(), "{bad}: {e:?}");
        }
        let e = validate(ProjectPolicy {
            namespaces: vec!["Team A".into()],
            ..ProjectPolicy::default()
        })
        .unwrap_err();
        assert!(e.field("namespaces").unwrap().contains("Team A"), "{e:?}");
    }

    #[test]
    fn baseline_refuses_host_access_and_privileged_containers() {
        let spec = json!({
            "hostNetwork": true, "hostPID": true, "hostIPC": false,
            "volumes": [{"name": "root", "hostPath": {"path": "/"}}, {"name": "tmp", "emptyDir": {}}],
            "containers": [{"name": "agent", "image": "x",
                "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN", "CHOWN"]}},
                "ports": [{"containerPort": 80, "hostPort": 8080}]}],
            "initContainers": [{"name": "init", "image": "x", "securityContext": {"procMount": "Unmasked"}}]
        });
        let t = json!({"metadata": {}, "spec": spec});
        let v = pod_violations(PodSecurityLevel::Baseline, &t);
        for expected in [
            "hostNetwork: true",
            "hostPID: true",
            "hostPath volume root (/)",
            "privileged: true (container agent)",
            "capability SYS_ADMIN (container agent)",
            "hostPort 8080 (container agent)",
            "procMount Unmasked (container init)",
        ] {
            assert!(v.iter().any(|x| x == expected), "{expected} in {v:?}");
        }
        assert!(!v.iter().any(|x| x.contains("hostIPC")), "false is fine: {v:?}");
        assert!(
            !v.iter().any(|x| x.contains("CHOWN")),
            "baseline allows CHOWN: {v:?}"
        );
        assert!(!v.iter().any(|x| x.contains("tmp")), "{v:?}");
        assert!(pod_violations(PodSecurityLevel::Privileged, &t).is_empty());
        // More baseline rules: seccomp, sysctls, AppArmor, SELinux, Windows host processes.
        let t = json!({"metadata": {"annotations": {
                "container.apparmor.security.beta.kubernetes.io/web": "unconfined"}},
            "spec": {"securityContext": {"seccompProfile": {"type": "Unconfined"},
                "sysctls": [{"name": "kernel.msgmax", "value": "1"}, {"name": "net.ipv4.tcp_syncookies", "value": "1"}],
                "seLinuxOptions": {"type": "spc_t"}, "windowsOptions": {"hostProcess": true}},
                "containers": [{"name": "web", "image": "x"}]}});
        let v = pod_violations(PodSecurityLevel::Baseline, &t);
        assert_eq!(
            v,
            [
                "hostProcess: true (pod)",
                "SELinux type spc_t (pod)",
                "seccomp profile Unconfined (pod)",
                "sysctl kernel.msgmax",
                "AppArmor profile unconfined (container web)"
            ]
        );
        // An ordinary app passes baseline.
        let ok = json!({"metadata": {}, "spec": {"containers": [{"name": "web", "image": "x",
            "ports": [{"containerPort": 80}]}], "volumes": [{"name": "c", "configMap": {"name": "c"}}]}});
        assert!(pod_violations(PodSecurityLevel::Baseline, &ok).is_empty());
        // … but not restricted.
        let v = pod_violations(PodSecurityLevel::Restricted, &ok);
        assert_eq!(
            v,
            [
                "no allowPrivilegeEscalation: false (container web)",
                "no runAsNonRoot: true (container web)",
                "no seccomp profile RuntimeDefault or Localhost (container web)",
                "capabilities not dropped (drop: [ALL]) (container web)"
            ]
        );
    }

    #[test]
    fn restricted_wants_hardened_containers() {
        let hardened = json!({"metadata": {}, "spec": {
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": "d"}}],
            "containers": [{"name": "web", "image": "x", "securityContext": {
                "allowPrivilegeEscalation": false,
                "capabilities": {"drop": ["ALL"], "add": ["NET_BIND_SERVICE"]}}}]}});
        assert!(
            pod_violations(PodSecurityLevel::Restricted, &hardened).is_empty(),
            "{:?}",
            pod_violations(PodSecurityLevel::Restricted, &hardened)
        );
        let mut root = hardened.clone();
        root["spec"]["containers"][0]["securityContext"]["runAsNonRoot"] = json!(false);
        root["spec"]["containers"][0]["securityContext"]["runAsUser"] = json!(0);
        root["spec"]["containers"][0]["securityContext"]["capabilities"]["add"] = json!(["CHOWN"]);
        root["spec"]["volumes"] = json!([{"name": "sock", "nfs": {"server": "s", "path": "/"}}]);
        let v = pod_violations(PodSecurityLevel::Restricted, &root);
        assert_eq!(
            v,
            [
                "nfs volume sock",
                "capability CHOWN (container web)",
                "no runAsNonRoot: true (container web)",
                "runAsUser 0 (container web)"
            ]
        );
    }

    #[test]
    fn pod_templates_of_every_workload_kind() {
        let spec = json!({"hostNetwork": true, "containers": []});
        for (api, kind, object) in [
            ("v1", "Pod", json!({"spec": spec})),
            (
                "apps/v1",
                "DaemonSet",
                json!({"spec": {"template": {"spec": spec}}}),
            ),
            ("batch/v1", "Job", json!({"spec": {"template": {"spec": spec}}})),
            (
                "batch/v1",
                "CronJob",
                json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
            ),
        ] {
            let ts = pod_templates(group_of(api), kind, &object);
            assert_eq!(ts.len(), 1, "{kind}");
            assert_eq!(
                pod_violations(PodSecurityLevel::Baseline, ts[0]),
                ["hostNetwork: true"],
                "{kind}"
            );
        }
        assert!(pod_templates("example.com", "Deployment", &json!({"spec": {"template": {}}})).is_empty());
    }

    #[test]
    fn the_check_names_each_object_and_rule() {
        let objects = vec![
            manifest(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}})),
            workload(
                "DaemonSet",
                json!({"volumes": [{"name": "root", "hostPath": {"path": "/"}}],
                "containers": [{"name": "agent", "securityContext": {"privileged": true}}]}),
            ),
            manifest(
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole",
                "metadata": {"name": "everything"}}),
            ),
        ];
        let p = ProjectPolicy::default();
        let e = check(&p, "Shop", &objects, namespaced_unless_cluster_kind).unwrap_err();
        assert!(
            e.contains("DaemonSet/agent (release web): kind DaemonSet is not allowed by project Shop's policy (allowed: ConfigMap, CronJob,"),
            "{e}"
        );
        assert!(
            e.contains("ClusterRole/everything (release web): cluster-scoped kind ClusterRole is not allowed by project Shop's policy (allowed: none)"),
            "{e}"
        );
        assert!(!e.contains("ConfigMap/c"), "{e}");
        assert!(
            e.ends_with("an ADMIN can allow it on the project page. Nothing was applied."),
            "{e}"
        );

        // DaemonSets allowed: the pod rules of baseline still refuse the host access.
        let p = ProjectPolicy {
            kinds: vec!["DaemonSet".into(), "ConfigMap".into()],
            cluster_kinds: vec!["ClusterRole".into()],
            ..ProjectPolicy::default()
        };
        let e = check(&p, "Shop", &objects, namespaced_unless_cluster_kind).unwrap_err();
        assert_eq!(
            e,
            "DaemonSet/agent (release web): Pod Security level baseline of project Shop's policy forbids hostPath volume root (/), privileged: true (container agent); an ADMIN can choose another Pod Security level on the project page. Nothing was applied."
        );
        // … and privileged lets it through.
        let p = ProjectPolicy {
            pod_security: PodSecurityLevel::Privileged,
            ..p
        };
        check(&p, "Shop", &objects, namespaced_unless_cluster_kind).unwrap();
        // Namespaces never, even with every cluster-scoped kind allowed.
        let everything = ProjectPolicy {
            cluster_kinds: vec!["*".into()],
            ..p.clone()
        };
        let ns = [manifest(
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kube-system"}}),
        )];
        let e = check(&everything, "Shop", &ns, |_| Ok(false)).unwrap_err();
        assert!(
            e.contains(
                "Namespace/kube-system (release web): charts deployed by O-Neko may not contain namespaces"
            ),
            "{e}"
        );
        // A scope the cluster cannot tell is the refusal.
        let e = check(&p, "Shop", &objects, |_| Err("unknown kind".into())).unwrap_err();
        assert_eq!(e, "unknown kind");
    }

    #[test]
    fn crds_in_the_set_say_where_their_resources_live() {
        let objects = vec![manifest(json!({"apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition", "metadata": {"name": "widgets.example.com"},
            "spec": {"group": "example.com", "scope": "Cluster", "names": {"kind": "Widget"}}}))];
        assert_eq!(
            crd_scopes(&objects),
            BTreeMap::from([(("example.com".to_string(), "Widget".to_string()), false)])
        );
    }

    #[test]
    fn namespace_labels_enforce_the_level() {
        let l = namespace_labels(PodSecurityLevel::Restricted);
        assert_eq!(l[PSA_ENFORCE], "restricted");
        assert_eq!(l[PSA_ENFORCE_VERSION], "latest");
    }
}
