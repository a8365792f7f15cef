//! Defaulting and server-populated fields, as the apiserver's strategies and admission do.

use std::sync::Arc;

use base64::Engine;
use serde_json::{Value, json};

use crate::Sim;
use crate::registry::ResourceType;

pub const NODE_NAME: &str = "kube-sim-node";

pub fn now() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

pub fn now_micro() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

pub fn new_uid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// Random suffix with the apiserver's alphabet (no vowels, no ambiguous characters).
pub fn random_suffix(n: usize) -> String {
    use rand::Rng;
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..n)
        .map(|_| ALPHA[rng.random_range(0..ALPHA.len())] as char)
        .collect()
}

/// Deterministic short hash, encoded like `rand.SafeEncodeString` (used for pod-template-hash).
pub fn safe_hash(v: &Value) -> String {
    use sha2::Digest;
    const ALPHA: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let digest = sha2::Sha256::digest(v.to_string().as_bytes());
    let mut n = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    let mut s = String::new();
    while n > 0 || s.is_empty() {
        s.push(ALPHA[(n % ALPHA.len() as u32) as usize] as char);
        n /= ALPHA.len() as u32;
    }
    s
}

fn set_default(obj: &mut Value, key: &str, v: Value) {
    if let Some(m) = obj.as_object_mut()
        && m.get(key).is_none_or(Value::is_null)
    {
        m.insert(key.to_string(), v);
    }
}

fn image_pull_policy(image: &str) -> &'static str {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') {
        "IfNotPresent"
    } else {
        match last.split_once(':') {
            None => "Always",
            Some((_, "latest")) => "Always",
            Some(_) => "IfNotPresent",
        }
    }
}

fn default_container(c: &mut Value) {
    if !c.is_object() {
        return;
    }
    let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
    set_default(c, "imagePullPolicy", json!(image_pull_policy(&image)));
    set_default(c, "terminationMessagePath", json!("/dev/termination-log"));
    set_default(c, "terminationMessagePolicy", json!("File"));
    set_default(c, "resources", json!({}));
    if let Some(ports) = c.get_mut("ports").and_then(Value::as_array_mut) {
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
        }
    }
}

pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for list in ["containers", "initContainers"] {
        if let Some(cs) = spec.get_mut(list).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(default_container);
        }
    }
    set_default(spec, "restartPolicy", json!("Always"));
    set_default(spec, "terminationGracePeriodSeconds", json!(30));
    set_default(spec, "dnsPolicy", json!("ClusterFirst"));
    set_default(spec, "securityContext", json!({}));
    set_default(spec, "schedulerName", json!("default-scheduler"));
}

fn default_template(obj: &mut Value) {
    if let Some(spec) = obj.pointer_mut("/spec/template/spec") {
        default_pod_spec(spec);
    }
}

fn ns_name(obj: &Value) -> (String, String) {
    (
        obj.pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
        obj.pointer("/metadata/name")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string(),
    )
}

fn secret_string_data(obj: &mut Value) {
    if let Some(sd) = obj.as_object_mut().and_then(|m| m.remove("stringData"))
        && let Some(sd) = sd.as_object()
    {
        let data = obj
            .as_object_mut()
            .map(|m| m.entry("data").or_insert_with(|| json!({})));
        if let Some(Value::Object(data)) = data {
            for (k, v) in sd {
                let s = v.as_str().unwrap_or("");
                data.insert(
                    k.clone(),
                    json!(base64::engine::general_purpose::STANDARD.encode(s)),
                );
            }
        }
    }
}

fn alloc_service_ip(sim: &Sim) -> String {
    let mut k = sim.kubelet.lock();
    k.next_service_ip += 1;
    let n = k.next_service_ip + 9; // 10.96.0.10 onwards; .1 is the kubernetes service
    format!("10.96.{}.{}", (n / 250) % 256, n % 250 + 1)
}

fn service_defaults(sim: &Sim, obj: &mut Value, old: Option<&Value>) {
    let Some(spec) = obj.get_mut("spec") else {
        return;
    };
    if !spec.is_object() {
        return;
    }
    set_default(spec, "type", json!("ClusterIP"));
    set_default(spec, "sessionAffinity", json!("None"));
    let ty = spec
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or("ClusterIP")
        .to_string();
    if let Some(ports) = spec.get_mut("ports").and_then(Value::as_array_mut) {
        let mut next_node_port = 30000 + (rand::random::<u16>() % 2000) as i64;
        for p in ports {
            set_default(p, "protocol", json!("TCP"));
            if let Some(port) = p.get("port").cloned() {
                set_default(p, "targetPort", port);
            }
            if ty == "NodePort" || ty == "LoadBalancer" {
                set_default(p, "nodePort", json!(next_node_port));
                next_node_port += 1;
            }
        }
    }
    if ty == "ExternalName" {
        return;
    }
    let old_ip = old.and_then(|o| o.pointer("/spec/clusterIP")).cloned();
    if spec.get("clusterIP").is_none_or(|v| v.is_null() || v == "") {
        let ip = match old_ip {
            Some(ip) => ip,
            None => json!(alloc_service_ip(sim)),
        };
        spec["clusterIP"] = ip;
    }
    let ip = spec["clusterIP"].clone();
    set_default(spec, "clusterIPs", json!([ip]));
    set_default(spec, "ipFamilies", json!(["IPv4"]));
    set_default(spec, "ipFamilyPolicy", json!("SingleStack"));
    set_default(spec, "internalTrafficPolicy", json!("Cluster"));
}

/// Fills defaults and server-set fields of an object being created (after name/uid are set).
pub fn prepare_create(sim: &Sim, rt: &ResourceType, obj: &mut Value) {
    if rt.custom {
        if rt.status
            && let Some(m) = obj.as_object_mut()
        {
            m.remove("status");
        }
        return;
    }
    let (_, name) = ns_name(obj);
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "namespaces") => {
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!(name);
            obj["spec"] = json!({"finalizers": ["kubernetes"]});
            obj["status"] = json!({"phase": "Active"});
        }
        ("", "pods") => pod_on_create(obj),
        ("", "services") => {
            service_defaults(sim, obj, None);
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("", "secrets") => {
            secret_string_data(obj);
            set_default(obj, "type", json!("Opaque"));
        }
        ("", "persistentvolumeclaims") => {
            if let Some(spec) = obj.get_mut("spec") {
                set_default(spec, "volumeMode", json!("Filesystem"));
            }
            obj["status"] = json!({"phase": "Pending"});
        }
        ("apps", "deployments") => deployment_on_create(obj),
        ("apps", "replicasets") | ("", "replicationcontrollers") => {
            if let Some(spec) = obj.get_mut("spec") {
                set_default(spec, "replicas", json!(1));
            }
            default_template(obj);
            obj["status"] = json!({"replicas": 0});
        }
        ("apps", "statefulsets") => statefulset_on_create(obj),
        ("apps", "daemonsets") => daemonset_on_create(obj),
        ("batch", "jobs") => job_on_create(obj, &name),
        ("batch", "cronjobs") => cronjob_on_create(obj),
        ("networking.k8s.io", "ingresses") => {
            obj["status"] = json!({"loadBalancer": {}});
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => {
            crd_status(obj);
        }
        ("policy", "poddisruptionbudgets") => {
            obj["status"] =
                json!({"disruptionsAllowed": 0, "currentHealthy": 0, "desiredHealthy": 0, "expectedPods": 0});
        }
        ("autoscaling", "horizontalpodautoscalers") => {
            obj["status"] = json!({"currentReplicas": 0, "desiredReplicas": 0});
        }
        _ => {}
    }
}

/// A pod: its spec's defaults and the Pending status.
fn pod_on_create(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        default_pod_spec(spec);
        set_default(spec, "serviceAccountName", json!("default"));
        let sa = spec["serviceAccountName"].clone();
        set_default(spec, "serviceAccount", sa);
        set_default(spec, "enableServiceLinks", json!(true));
        set_default(spec, "preemptionPolicy", json!("PreemptLowerPriority"));
        set_default(spec, "priority", json!(0));
        set_default(
            spec,
            "tolerations",
            json!([
                {"key": "node.kubernetes.io/not-ready", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300},
                {"key": "node.kubernetes.io/unreachable", "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 300}
            ]),
        );
    }
    obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"});
}

/// A Deployment: replicas, history and a rolling-update strategy by default.
fn deployment_defaults(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        set_default(spec, "replicas", json!(1));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(spec, "progressDeadlineSeconds", json!(600));
        set_default(
            spec,
            "strategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}}),
        );
    }
    default_template(obj);
}

fn deployment_on_create(obj: &mut Value) {
    deployment_defaults(obj);
    obj["status"] = json!({});
}

/// A StatefulSet: ordered pod management and rolling updates by default.
fn statefulset_on_create(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        set_default(spec, "replicas", json!(1));
        set_default(spec, "podManagementPolicy", json!("OrderedReady"));
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"partition": 0}}),
        );
        set_default(
            spec,
            "persistentVolumeClaimRetentionPolicy",
            json!({"whenDeleted": "Retain", "whenScaled": "Retain"}),
        );
    }
    default_template(obj);
    obj["status"] = json!({"replicas": 0, "availableReplicas": 0});
}

/// A DaemonSet: a rolling update of one pod at a time by default.
fn daemonset_on_create(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        set_default(spec, "revisionHistoryLimit", json!(10));
        set_default(
            spec,
            "updateStrategy",
            json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1, "maxSurge": 0}}),
        );
    }
    default_template(obj);
    obj["status"] = json!({"currentNumberScheduled": 0, "numberMisscheduled": 0, "desiredNumberScheduled": 0, "numberReady": 0});
}

/// A Job: one pod to completion by default, selected by the job's uid unless `manualSelector`.
fn job_on_create(obj: &mut Value, name: &str) {
    let uid = obj["metadata"]["uid"].clone();
    if let Some(spec) = obj.get_mut("spec") {
        set_default(spec, "parallelism", json!(1));
        set_default(spec, "completions", json!(1));
        set_default(spec, "backoffLimit", json!(6));
        set_default(spec, "completionMode", json!("NonIndexed"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "podReplacementPolicy", json!("TerminatingOrFailed"));
        if spec.get("manualSelector") != Some(&json!(true)) {
            set_default(
                spec,
                "selector",
                json!({"matchLabels": {"batch.kubernetes.io/controller-uid": uid}}),
            );
            if spec.pointer("/template/metadata").is_none_or(|m| !m.is_object()) {
                spec["template"]["metadata"] = json!({});
            }
            let labels = &mut spec["template"]["metadata"]["labels"];
            if !labels.is_object() {
                *labels = json!({});
            }
            labels["batch.kubernetes.io/controller-uid"] = uid.clone();
            labels["controller-uid"] = uid;
            labels["batch.kubernetes.io/job-name"] = json!(name);
            labels["job-name"] = json!(name);
        }
    }
    default_template(obj);
    obj["status"] = json!({});
}

/// A CronJob: its schedule policy and its job template's pod spec defaults.
fn cronjob_on_create(obj: &mut Value) {
    if let Some(spec) = obj.get_mut("spec") {
        set_default(spec, "concurrencyPolicy", json!("Allow"));
        set_default(spec, "suspend", json!(false));
        set_default(spec, "successfulJobsHistoryLimit", json!(3));
        set_default(spec, "failedJobsHistoryLimit", json!(1));
    }
    if let Some(spec) = obj.pointer_mut("/spec/jobTemplate/spec/template/spec") {
        default_pod_spec(spec);
    }
    obj["status"] = json!({});
}

/// Fields kept or defaulted on update of an existing object.
pub fn prepare_update(sim: &Sim, rt: &ResourceType, old: &Value, new: &mut Value) {
    if rt.custom {
        return;
    }
    match (rt.group.as_str(), rt.plural.as_str()) {
        ("", "services") => service_defaults(sim, new, Some(old)),
        ("", "secrets") => {
            secret_string_data(new);
            set_default(new, "type", json!("Opaque"));
        }
        ("", "namespaces") => {
            if new.pointer("/spec/finalizers").is_none()
                && let Some(f) = old.pointer("/spec/finalizers")
            {
                new["spec"] = json!({"finalizers": f.clone()});
            }
            if let Some(l) = new.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
                let name = old["metadata"]["name"].clone();
                l.insert("kubernetes.io/metadata.name".into(), name);
            } else {
                new["metadata"]["labels"] =
                    json!({"kubernetes.io/metadata.name": old["metadata"]["name"].clone()});
            }
        }
        ("", "pods") => {
            if let Some(spec) = new.get_mut("spec") {
                default_pod_spec(spec);
            }
        }
        ("apps", "deployments") => deployment_defaults(new),
        ("apps", _) | ("", "replicationcontrollers") => {
            if let Some(spec) = new.get_mut("spec")
                && rt.plural != "daemonsets"
                && rt.plural != "controllerrevisions"
            {
                set_default(spec, "replicas", json!(1));
            }
            default_template(new);
        }
        ("batch", "jobs") => {
            // Generated selector and template labels are immutable.
            if let (Some(sel), Some(spec)) = (old.pointer("/spec/selector"), new.get_mut("spec")) {
                set_default(spec, "selector", sel.clone());
            }
            if let (Some(l), Some(t)) = (
                old.pointer("/spec/template/metadata/labels").cloned(),
                new.pointer_mut("/spec/template/metadata"),
            ) {
                set_default(t, "labels", l);
            }
            default_template(new);
        }
        ("apiextensions.k8s.io", "customresourcedefinitions") => crd_status(new),
        _ => {}
    }
}

fn crd_status(obj: &mut Value) {
    let names = obj.pointer("/spec/names").cloned().unwrap_or(json!({}));
    let mut accepted = names.clone();
    if accepted.get("singular").is_none() {
        let kind = names
            .get("kind")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_lowercase();
        accepted["singular"] = json!(kind);
    }
    if accepted.get("listKind").is_none() {
        let kind = names.get("kind").and_then(Value::as_str).unwrap_or("");
        accepted["listKind"] = json!(format!("{kind}List"));
    }
    let stored: Vec<Value> = obj
        .pointer("/spec/versions")
        .and_then(Value::as_array)
        .map(|vs| {
            vs.iter()
                .filter(|v| v.get("storage") == Some(&json!(true)))
                .filter_map(|v| v.get("name").cloned())
                .collect()
        })
        .unwrap_or_default();
    let t = now();
    obj["status"] = json!({
        "acceptedNames": accepted,
        "conditions": [
            {"type": "NamesAccepted", "status": "True", "lastTransitionTime": t, "reason": "NoConflicts", "message": "no conflicts found"},
            {"type": "Established", "status": "True", "lastTransitionTime": t, "reason": "InitialNamesAccepted", "message": "the initial names have been accepted"}
        ],
        "storedVersions": stored,
    });
}

/// Creates the objects a fresh cluster has.
pub fn bootstrap(sim: &Arc<Sim>) {
    let reg = sim.registry.read().clone();
    let mut st = sim.store.lock();
    let rt = |key: &str| reg.by_key(key).cloned().expect("built-in type");
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        let _ = crate::ops::create_internal(
            sim,
            &mut st,
            &rt("/namespaces"),
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}}),
            "kube-apiserver",
        );
    }
    let t = now();
    let _ = crate::ops::create_internal(
        sim,
        &mut st,
        &rt("/nodes"),
        json!({
            "apiVersion": "v1", "kind": "Node",
            "metadata": {"name": NODE_NAME, "labels": {
                "kubernetes.io/hostname": NODE_NAME, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64",
                "node-role.kubernetes.io/control-plane": ""}},
            "spec": {"podCIDR": "10.244.0.0/24", "podCIDRs": ["10.244.0.0/24"]},
            "status": {
                "capacity": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "allocatable": {"cpu": "8", "memory": "32Gi", "pods": "110", "ephemeral-storage": "100Gi"},
                "conditions": [
                    {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                    {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                    {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": t, "lastTransitionTime": t, "reason": "KubeletReady", "message": "kubelet is posting ready status"}
                ],
                "addresses": [{"type": "InternalIP", "address": "172.18.0.2"}, {"type": "Hostname", "address": NODE_NAME}],
                "nodeInfo": {"kubeletVersion": sim.cfg.git_version, "containerRuntimeVersion": "containerd://2.1.0", "operatingSystem": "linux", "architecture": "amd64", "osImage": "kube-sim", "kernelVersion": "6.1.0", "kubeProxyVersion": "", "machineID": "", "systemUUID": "", "bootID": ""}
            }
        }),
        "kubelet",
    );
    let _ = crate::ops::create_internal(
        sim,
        &mut st,
        &rt("/services"),
        json!({
            "apiVersion": "v1", "kind": "Service",
            "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
            "spec": {"clusterIP": "10.96.0.1", "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}
        }),
        "kube-apiserver",
    );
    drop(st);
    crate::controllers::reconcile(sim);
}
