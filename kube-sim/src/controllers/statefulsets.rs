//! StatefulSets.
//!
//! A StatefulSet's pods are `{name}-{ordinal}`: created lowest ordinal first, each waiting for
//! the one before to be ready (unless `podManagementPolicy: Parallel`), removed highest first
//! on scale-down, and replaced one at a time, highest first, when the template changes. What
//! to do is `plan`, a pure function of the StatefulSet and its pods.

use super::*;

/// What one pass does to a StatefulSet's pods.
#[derive(Debug, Default, PartialEq)]
pub(super) struct StsPlan {
    /// Ordinals to create, lowest first.
    create: Vec<i64>,
    /// Pods to delete for a scale-down, highest ordinal first.
    scale_down: Vec<String>,
    /// The outdated pod to replace next (rolling update).
    replace: Option<String>,
}

/// A pod's ordinal in the StatefulSet `name` (-1 for a pod not named like one of its own).
fn ordinal(name: &str, p: &Value) -> i64 {
    meta_str(p, "name")
        .strip_prefix(&format!("{name}-"))
        .and_then(|o| o.parse::<i64>().ok())
        .unwrap_or(-1)
}

fn revision_of(p: &Value) -> Option<&str> {
    p.pointer("/metadata/labels/controller-revision-hash")
        .and_then(Value::as_str)
}

/// The next steps for StatefulSet `s` with its `pods`, `revision` being its current template's.
pub(super) fn plan(s: &Value, pods: &[Value], revision: &str) -> StsPlan {
    let name = meta_str(s, "name");
    let desired = i64_at(s, "/spec/replicas", 1).max(0);
    let parallel = s.pointer("/spec/podManagementPolicy") == Some(&json!("Parallel"));
    let on_delete = s.pointer("/spec/updateStrategy/type") == Some(&json!("OnDelete"));
    let mut out = StsPlan::default();
    let mut all_ready = true;
    for i in 0..desired {
        let pname = format!("{name}-{i}");
        let ready = match pods.iter().find(|p| meta_str(p, "name") == pname) {
            Some(p) => pod_ready(p),
            None => {
                out.create.push(i);
                false
            }
        };
        if !ready {
            all_ready = false;
            if !parallel {
                break;
            }
        }
    }
    let mut extra: Vec<&Value> = pods
        .iter()
        .filter(|p| ordinal(name, p) >= desired && !deleting(p))
        .collect();
    extra.sort_by_key(|p| std::cmp::Reverse(ordinal(name, p)));
    out.scale_down = extra
        .iter()
        .take(if parallel { usize::MAX } else { 1 })
        .map(|p| meta_str(p, "name").to_string())
        .collect();
    // Replace the highest-ordinal outdated pod when all are ready.
    if !on_delete && all_ready {
        out.replace = pods
            .iter()
            .filter(|p| ordinal(name, p) < desired && !deleting(p) && revision_of(p) != Some(revision))
            .min_by_key(|p| std::cmp::Reverse(ordinal(name, p)))
            .map(|p| meta_str(p, "name").to_string());
    }
    out
}

/// The pod for ordinal `i` of StatefulSet `s`.
fn sts_pod(s: &Value, template: &Value, revision: &str, i: i64) -> Value {
    let pname = format!("{}-{i}", meta_str(s, "name"));
    let extra = [
        ("controller-revision-hash", revision.to_string()),
        ("statefulset.kubernetes.io/pod-name", pname.clone()),
        ("apps.kubernetes.io/pod-index", i.to_string()),
    ];
    let mut pod = new_pod(s, "apps/v1", "StatefulSet", template, &pname, &extra);
    pod["spec"]["hostname"] = json!(pname);
    if let Some(svc) = s.pointer("/spec/serviceName").and_then(Value::as_str)
        && !svc.is_empty()
    {
        pod["spec"]["subdomain"] = json!(svc);
    }
    pod
}

/// The StatefulSet's status from its live pods.
pub(super) fn sts_status(cur: &Value, pods: &[Value], revision: &str) -> Value {
    let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
    let updated = pods.iter().filter(|p| revision_of(p) == Some(revision)).count() as i64;
    let current_rev = if updated == pods.len() as i64 {
        revision
    } else {
        cur.pointer("/status/currentRevision")
            .and_then(Value::as_str)
            .unwrap_or(revision)
    };
    let mut status = json!({
        "observedGeneration": i64_at(cur, "/metadata/generation", 1),
        "replicas": pods.len(),
        "currentReplicas": if current_rev == revision { updated } else { pods.len() as i64 - updated },
        "updatedReplicas": updated,
        "currentRevision": current_rev,
        "updateRevision": revision,
        "collisionCount": 0,
        "availableReplicas": ready,
    });
    if ready > 0 {
        status["readyReplicas"] = json!(ready);
    }
    status
}

pub(super) fn statefulsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let mut all = scope.objects(st, "apps/statefulsets");
    all.retain(|s| !deleting(s));
    for s in all {
        sync_statefulset(sim, reg, st, &s);
    }
}

fn sync_statefulset(sim: &Sim, reg: &Registry, st: &mut Store, s: &Value) {
    let prt = rt(reg, "/pods");
    let ns = meta_str(s, "namespace").to_string();
    let name = meta_str(s, "name").to_string();
    let uid = meta_str(s, "uid").to_string();
    let template = s.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let revision = format!("{name}-{}", template_hash(&template));
    let owned = |st: &Store| -> Vec<Value> {
        st.list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()))
            .cloned()
            .collect()
    };
    let todo = plan(s, &owned(st), &revision);
    let event = |st: &mut Store, reason: &str, msg: &str| {
        record_event(
            sim,
            reg,
            st,
            s,
            &Note::normal("statefulset-controller", reason, msg),
        );
    };
    for i in todo.create {
        let pod = sts_pod(s, &template, &revision, i);
        if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
            event(
                st,
                "SuccessfulCreate",
                &format!("create Pod {name}-{i} in StatefulSet {name} successful"),
            );
        }
    }
    for pname in todo.scale_down {
        delete_obj(sim, st, prt, &ns, &pname, "Background");
        event(
            st,
            "SuccessfulDelete",
            &format!("delete Pod {pname} in StatefulSet {name} successful"),
        );
    }
    if let Some(pname) = todo.replace {
        delete_obj(sim, st, prt, &ns, &pname, "Background");
    }
    let mut pods = owned(st);
    pods.retain(|p| !deleting(p));
    let Some(cur) = st.get("apps/statefulsets", &ns, &name).cloned() else {
        return;
    };
    let status = sts_status(&cur, &pods, &revision);
    set_status(sim, st, rt(reg, "apps/statefulsets"), &cur, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sts(replicas: i64, policy: &str, strategy: &str) -> Value {
        json!({
            "metadata": {"name": "db", "namespace": "ns", "uid": "s-uid", "generation": 1},
            "spec": {
                "replicas": replicas,
                "podManagementPolicy": policy,
                "updateStrategy": {"type": strategy},
                "template": {"metadata": {"labels": {"app": "db"}}, "spec": {}},
            },
        })
    }

    fn pod(i: i64, revision: &str, ready: bool) -> Value {
        json!({
            "metadata": {"name": format!("db-{i}"), "labels": {"controller-revision-hash": revision}},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        })
    }

    #[test]
    fn pods_are_created_in_order_each_waiting_for_the_one_before() {
        let s = sts(3, "OrderedReady", "RollingUpdate");
        assert_eq!(plan(&s, &[], "r").create, [0]);
        assert_eq!(plan(&s, &[pod(0, "r", false)], "r"), StsPlan::default());
        assert_eq!(plan(&s, &[pod(0, "r", true)], "r").create, [1]);
        assert_eq!(plan(&s, &[pod(0, "r", true), pod(1, "r", true)], "r").create, [2]);
        let parallel = sts(3, "Parallel", "RollingUpdate");
        assert_eq!(plan(&parallel, &[pod(1, "r", false)], "r").create, [0, 2]);
    }

    #[test]
    fn the_pod_for_an_ordinal_is_named_and_labelled_by_it() {
        let mut s = sts(3, "OrderedReady", "RollingUpdate");
        s["spec"]["serviceName"] = json!("db-headless");
        let p = sts_pod(&s, &s["spec"]["template"], "db-abc", 2);
        assert_eq!(p["metadata"]["name"], "db-2");
        assert_eq!(p["spec"]["hostname"], "db-2");
        assert_eq!(p["spec"]["subdomain"], "db-headless");
        assert_eq!(p["metadata"]["labels"]["apps.kubernetes.io/pod-index"], "2");
        assert_eq!(p["metadata"]["labels"]["controller-revision-hash"], "db-abc");
        assert_eq!(p["metadata"]["labels"]["app"], "db");
        assert_eq!(p["metadata"]["ownerReferences"][0]["uid"], "s-uid");
    }

    #[test]
    fn scale_down_removes_the_highest_ordinal_first() {
        let pods: Vec<Value> = (0..3).map(|i| pod(i, "r", true)).collect();
        let one = sts(1, "OrderedReady", "RollingUpdate");
        assert_eq!(plan(&one, &pods, "r").scale_down, ["db-2"]);
        let parallel = sts(1, "Parallel", "RollingUpdate");
        assert_eq!(plan(&parallel, &pods, "r").scale_down, ["db-2", "db-1"]);
    }

    #[test]
    fn a_new_template_replaces_the_highest_outdated_pod_once_all_are_ready() {
        let s = sts(2, "OrderedReady", "RollingUpdate");
        let old = [pod(0, "old", true), pod(1, "old", true)];
        assert_eq!(plan(&s, &old, "new").replace.as_deref(), Some("db-1"));
        let half = [pod(0, "old", true), pod(1, "new", true)];
        assert_eq!(plan(&s, &half, "new").replace.as_deref(), Some("db-0"));
        let waiting = [pod(0, "old", true), pod(1, "new", false)];
        assert_eq!(plan(&s, &waiting, "new").replace, None);
        let on_delete = sts(2, "OrderedReady", "OnDelete");
        assert_eq!(plan(&on_delete, &old, "new").replace, None);
    }

    #[test]
    fn status_counts_ready_and_updated_pods_and_the_revisions() {
        let cur = json!({"metadata": {"generation": 3}, "status": {"currentRevision": "old"}});
        let pods = [pod(0, "new", true), pod(1, "old", false)];
        let s = sts_status(&cur, &pods, "new");
        assert_eq!(s["replicas"], 2);
        assert_eq!(s["readyReplicas"], 1);
        assert_eq!(s["updatedReplicas"], 1);
        assert_eq!(s["currentRevision"], "old");
        assert_eq!(s["currentReplicas"], 1);
        assert_eq!(s["updateRevision"], "new");
        assert_eq!(s["observedGeneration"], 3);
        let done = sts_status(&cur, &[pod(0, "new", true), pod(1, "new", true)], "new");
        assert_eq!(done["currentRevision"], "new");
        assert_eq!(done["currentReplicas"], 2);
    }

    /// The names of the pods in `default`, sorted.
    fn pod_names(sim: &Sim) -> Vec<String> {
        let mut names: Vec<String> = sim
            .store
            .lock()
            .list("/pods", Some("default"))
            .map(|p| meta_str(p, "name").to_string())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn through_the_store_each_pod_is_created_once_the_one_before_is_ready() {
        // Without a delay the kubelet makes each pod ready in the pass that creates it.
        let cfg = crate::SimConfig::default().pod_ready_delay(Duration::ZERO);
        let sim = crate::Sim::new(cfg, "token".into(), None);
        {
            let reg = sim.registry.read().clone();
            let mut st = sim.store.lock();
            let mut s = sts(3, "OrderedReady", "RollingUpdate");
            s["metadata"] = json!({"name": "db", "namespace": "default"});
            s["spec"]["selector"] = json!({"matchLabels": {"app": "db"}});
            s["spec"]["template"]["spec"] = json!({"containers": [{"name": "db", "image": "db:1"}]});
            ops::create_internal(&sim, &mut st, rt(&reg, "apps/statefulsets"), s, "test").expect("created");
        }
        reconcile(&sim);
        assert_eq!(pod_names(&sim), ["db-0"]);
        reconcile(&sim);
        assert_eq!(pod_names(&sim), ["db-0", "db-1"]);
        reconcile(&sim);
        reconcile(&sim);
        assert_eq!(pod_names(&sim), ["db-0", "db-1", "db-2"]);
        let st = sim.store.lock();
        let s = st.get("apps/statefulsets", "default", "db").expect("stored");
        assert_eq!(s["status"]["readyReplicas"], 3);
        assert_eq!(s["status"]["updatedReplicas"], 3);
    }
}
