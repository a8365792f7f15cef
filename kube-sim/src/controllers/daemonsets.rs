//! DaemonSets: one pod on the one node, replaced when the template changes. The status is a
//! pure function of the current pods.

use super::*;

fn revision_of(p: &Value) -> Option<&str> {
    p.pointer("/metadata/labels/controller-revision-hash")
        .and_then(Value::as_str)
}

/// The DaemonSet's status from its pods of the current template (`current`), on one node.
pub(super) fn daemonset_status(cur: &Value, current: &[&Value]) -> Value {
    let ready = current.iter().filter(|p| pod_ready(p)).count() as i64;
    let mut status = json!({
        "currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
        "numberReady": ready, "observedGeneration": i64_at(cur, "/metadata/generation", 1),
        "updatedNumberScheduled": current.len(), "numberAvailable": ready,
        "numberUnavailable": 1 - ready.min(1),
    });
    let drop = if ready >= 1 {
        "numberUnavailable"
    } else {
        "numberAvailable"
    };
    status.as_object_mut().map(|m| m.remove(drop));
    status
}

pub(super) fn daemonsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let mut all = scope.objects(st, "apps/daemonsets");
    all.retain(|s| !deleting(s));
    for ds in all {
        sync_daemonset(sim, reg, st, &ds);
    }
}

fn sync_daemonset(sim: &Sim, reg: &Registry, st: &mut Store, ds: &Value) {
    let prt = rt(reg, "/pods");
    let ns = meta_str(ds, "namespace").to_string();
    let name = meta_str(ds, "name").to_string();
    let uid = meta_str(ds, "uid").to_string();
    let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
    let hash = template_hash(&template);
    let pods: Vec<Value> = st
        .list("/pods", Some(&ns))
        .filter(|p| controller_of(p) == Some(uid.as_str()) && pod_active(p))
        .cloned()
        .collect();
    for p in pods.iter().filter(|p| revision_of(p) != Some(hash.as_str())) {
        delete_obj(sim, st, prt, &ns, meta_str(p, "name"), "Background");
    }
    let current: Vec<&Value> = pods
        .iter()
        .filter(|p| revision_of(p) == Some(hash.as_str()))
        .collect();
    if current.is_empty() {
        let pname = format!("{name}-{}", random_suffix(5));
        let extra = [
            ("controller-revision-hash", hash.clone()),
            (
                "pod-template-generation",
                i64_at(ds, "/metadata/generation", 1).to_string(),
            ),
        ];
        let mut pod = new_pod(ds, "apps/v1", "DaemonSet", &template, &pname, &extra);
        pod["spec"]["nodeName"] = json!(NODE_NAME);
        if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
            let msg = format!("Created pod: {pname}");
            record_event(
                sim,
                reg,
                st,
                ds,
                &Note::normal("daemonset-controller", "SuccessfulCreate", &msg),
            );
        }
    }
    let Some(cur) = st.get("apps/daemonsets", &ns, &name).cloned() else {
        return;
    };
    let status = daemonset_status(&cur, &current);
    set_status(sim, st, rt(reg, "apps/daemonsets"), &cur, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(ready: bool) -> Value {
        json!({"status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn status_is_available_once_the_pod_is_ready() {
        let cur = json!({"metadata": {"generation": 4}});
        let waiting = daemonset_status(&cur, &[&pod(false)]);
        assert_eq!(waiting["numberReady"], 0);
        assert_eq!(waiting["numberUnavailable"], 1);
        assert!(waiting.get("numberAvailable").is_none());
        assert_eq!(waiting["updatedNumberScheduled"], 1);
        let ready = daemonset_status(&cur, &[&pod(true)]);
        assert_eq!(ready["numberReady"], 1);
        assert_eq!(ready["numberAvailable"], 1);
        assert!(ready.get("numberUnavailable").is_none());
        assert_eq!(ready["observedGeneration"], 4);
        let none = daemonset_status(&cur, &[]);
        assert_eq!(none["updatedNumberScheduled"], 0);
        assert_eq!(none["numberUnavailable"], 1);
    }
}
