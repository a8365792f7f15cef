//! ReplicaSets / ReplicationControllers: as many active pods as `spec.replicas`, removing the
//! not-ready and newest first. Which pods to remove and the status are pure functions.

use super::*;

pub(super) fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

pub(super) fn pod_active(p: &Value) -> bool {
    !deleting(p)
        && !matches!(
            p.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

pub(super) fn new_pod(
    owner: &Value,
    owner_av: &str,
    owner_kind: &str,
    template: &Value,
    name: &str,
    extra_labels: &[(&str, String)],
) -> Value {
    let ns = meta_str(owner, "namespace");
    let mut meta =
        json!({"name": name, "namespace": ns, "ownerReferences": owner_ref(owner, owner_av, owner_kind)});
    let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
    for (k, v) in extra_labels {
        labels[*k] = json!(v);
    }
    if labels.as_object().is_some_and(|m| !m.is_empty()) {
        meta["labels"] = labels;
    }
    if let Some(a) = template.pointer("/metadata/annotations") {
        meta["annotations"] = a.clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": meta, "spec": template.get("spec").cloned().unwrap_or(json!({}))})
}

/// The pods to delete to get down to `desired`: not-ready ones first, then the newest.
pub(super) fn excess_pods(pods: &[Value], desired: usize) -> Vec<String> {
    let mut pods: Vec<&Value> = pods.iter().collect();
    pods.sort_by_key(|p| {
        (
            pod_ready(p),
            std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()),
        )
    });
    let extra = pods.len().saturating_sub(desired);
    pods.iter()
        .take(extra)
        .map(|p| meta_str(p, "name").to_string())
        .collect()
}

/// The status of ReplicaSet (or ReplicationController) `cur` with its active `pods`.
pub(super) fn replicas_status(cur: &Value, pods: &[Value], selector: &LabelSelector) -> Value {
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let labeled = pods.iter().filter(|p| selector.matches(p)).count() as i64;
    let mut status = json!({"replicas": pods.len()});
    if labeled > 0 {
        status["fullyLabeledReplicas"] = json!(labeled);
    }
    if ready > 0 {
        status["readyReplicas"] = json!(ready);
        status["availableReplicas"] = json!(ready);
    }
    status["observedGeneration"] = json!(i64_at(cur, "/metadata/generation", 1));
    status
}

pub(super) fn replica_controllers(sim: &Sim, reg: &Registry, st: &mut Store, key: &str, scope: &Scope) {
    let mut all = scope.objects(st, key);
    all.retain(|r| !deleting(r));
    for rs in all {
        sync_replicas(sim, reg, st, key, &rs);
    }
}

fn sync_replicas(sim: &Sim, reg: &Registry, st: &mut Store, key: &str, rs: &Value) {
    let prt = rt(reg, "/pods");
    let (av, kind) = if key == "apps/replicasets" {
        ("apps/v1", "ReplicaSet")
    } else {
        ("v1", "ReplicationController")
    };
    let ns = meta_str(rs, "namespace").to_string();
    let name = meta_str(rs, "name").to_string();
    let uid = meta_str(rs, "uid").to_string();
    let desired = i64_at(rs, "/spec/replicas", 1).max(0) as usize;
    let active = |st: &Store| -> Vec<Value> {
        st.list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()) && pod_active(p))
            .cloned()
            .collect()
    };
    let pods = active(st);
    let event = |st: &mut Store, reason: &str, msg: &str| {
        record_event(
            sim,
            reg,
            st,
            rs,
            &Note::normal("replicaset-controller", reason, msg),
        );
    };
    let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
    for _ in pods.len()..desired {
        let pname = format!("{name}-{}", random_suffix(5));
        let pod = new_pod(rs, av, kind, &template, &pname, &[]);
        if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
            event(st, "SuccessfulCreate", &format!("Created pod: {pname}"));
        }
    }
    for v in excess_pods(&pods, desired) {
        delete_obj(sim, st, prt, &ns, &v, "Background");
        event(st, "SuccessfulDelete", &format!("Deleted pod: {v}"));
    }
    let pods = active(st);
    let selector = if key == "apps/replicasets" {
        LabelSelector::from_object(rs.pointer("/spec/selector").unwrap_or(&Value::Null))
    } else {
        LabelSelector::from_object(
            &json!({"matchLabels": rs.pointer("/spec/selector").cloned().unwrap_or(json!({}))}),
        )
    };
    let Some(cur) = st.get(key, &ns, &name).cloned() else {
        return;
    };
    let status = replicas_status(&cur, &pods, &selector);
    set_status(sim, st, rt(reg, key), &cur, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(name: &str, created: &str, ready: bool) -> Value {
        json!({
            "metadata": {"name": name, "creationTimestamp": created, "labels": {"app": "web"}},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        })
    }

    #[test]
    fn scale_down_removes_not_ready_pods_first_then_the_newest() {
        let pods = [
            pod("a", "2026-01-01T00:00:01Z", true),
            pod("b", "2026-01-01T00:00:02Z", false),
            pod("c", "2026-01-01T00:00:03Z", true),
            pod("d", "2026-01-01T00:00:04Z", true),
        ];
        assert_eq!(excess_pods(&pods, 2), ["b", "d"]);
        assert_eq!(excess_pods(&pods, 1), ["b", "d", "c"]);
        assert!(excess_pods(&pods, 4).is_empty());
        assert!(excess_pods(&pods, 6).is_empty());
    }

    #[test]
    fn status_counts_ready_and_selected_pods() {
        let cur = json!({"metadata": {"generation": 2}});
        let mut stray = pod("x", "2026-01-01T00:00:05Z", false);
        stray["metadata"]["labels"] = json!({"app": "other"});
        let pods = [pod("a", "2026-01-01T00:00:01Z", true), stray];
        let sel = LabelSelector::from_object(&json!({"matchLabels": {"app": "web"}}));
        let s = replicas_status(&cur, &pods, &sel);
        assert_eq!(s["replicas"], 2);
        assert_eq!(s["fullyLabeledReplicas"], 1);
        assert_eq!(s["readyReplicas"], 1);
        assert_eq!(s["availableReplicas"], 1);
        assert_eq!(s["observedGeneration"], 2);
        let none = replicas_status(&cur, &[], &sel);
        assert_eq!(none, json!({"replicas": 0, "observedGeneration": 2}));
    }
}
