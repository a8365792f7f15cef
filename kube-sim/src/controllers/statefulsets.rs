//! StatefulSets and DaemonSets.

use super::*;

pub(super) fn statefulsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let srt = rt(reg, "apps/statefulsets");
    let prt = rt(reg, "/pods");
    let mut all = scope.objects(st, "apps/statefulsets");
    all.retain(|s| !deleting(s));
    for s in all {
        let ns = meta_str(&s, "namespace").to_string();
        let name = meta_str(&s, "name").to_string();
        let uid = meta_str(&s, "uid").to_string();
        let desired = i64_at(&s, "/spec/replicas", 1).max(0);
        let template = s.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let revision = format!("{name}-{}", template_hash(&template));
        let parallel = s.pointer("/spec/podManagementPolicy") == Some(&json!("Parallel"));
        let on_delete = s.pointer("/spec/updateStrategy/type") == Some(&json!("OnDelete"));
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()))
            .cloned()
            .collect();
        let ordinal = |p: &Value| {
            meta_str(p, "name")
                .strip_prefix(&format!("{name}-"))
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(-1)
        };
        let mut all_ready = true;
        for i in 0..desired {
            let pname = format!("{name}-{i}");
            match pods.iter().find(|p| meta_str(p, "name") == pname) {
                Some(p) => {
                    if !pod_ready(p) {
                        all_ready = false;
                        if !parallel {
                            break;
                        }
                    }
                }
                None => {
                    let extra = [
                        ("controller-revision-hash", revision.clone()),
                        ("statefulset.kubernetes.io/pod-name", pname.clone()),
                        ("apps.kubernetes.io/pod-index", i.to_string()),
                    ];
                    let mut pod = new_pod(&s, "apps/v1", "StatefulSet", &template, &pname, &extra);
                    pod["spec"]["hostname"] = json!(pname);
                    if let Some(svc) = s.pointer("/spec/serviceName").and_then(Value::as_str)
                        && !svc.is_empty()
                    {
                        pod["spec"]["subdomain"] = json!(svc);
                    }
                    if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
                        record_event(
                            sim,
                            reg,
                            st,
                            &s,
                            "Normal",
                            "SuccessfulCreate",
                            &format!("create Pod {pname} in StatefulSet {name} successful"),
                            "statefulset-controller",
                            None,
                        );
                    }
                    all_ready = false;
                    if !parallel {
                        break;
                    }
                }
            }
        }
        // Scale down from the highest ordinal.
        let mut extra: Vec<&Value> = pods
            .iter()
            .filter(|p| ordinal(p) >= desired && !deleting(p))
            .collect();
        extra.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
        for p in extra.iter().take(if parallel { usize::MAX } else { 1 }) {
            let pname = meta_str(p, "name").to_string();
            delete_obj(sim, st, prt, &ns, &pname, "Background");
            record_event(
                sim,
                reg,
                st,
                &s,
                "Normal",
                "SuccessfulDelete",
                &format!("delete Pod {pname} in StatefulSet {name} successful"),
                "statefulset-controller",
                None,
            );
        }
        // Rolling update: replace the highest-ordinal outdated pod when all are ready.
        if !on_delete && all_ready {
            let mut outdated: Vec<&Value> = pods
                .iter()
                .filter(|p| ordinal(p) < desired && !deleting(p))
                .filter(|p| {
                    p.pointer("/metadata/labels/controller-revision-hash")
                        .and_then(Value::as_str)
                        != Some(revision.as_str())
                })
                .collect();
            outdated.sort_by_key(|p| std::cmp::Reverse(ordinal(p)));
            if let Some(p) = outdated.first() {
                let pname = meta_str(p, "name").to_string();
                delete_obj(sim, st, prt, &ns, &pname, "Background");
            }
        }
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()) && !deleting(p))
            .cloned()
            .collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let updated = pods
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/controller-revision-hash")
                    .and_then(Value::as_str)
                    == Some(revision.as_str())
            })
            .count() as i64;
        let Some(cur) = st.get("apps/statefulsets", &ns, &name).cloned() else {
            continue;
        };
        let current_rev = if updated == pods.len() as i64 {
            revision.clone()
        } else {
            cur.pointer("/status/currentRevision")
                .and_then(Value::as_str)
                .unwrap_or(&revision)
                .to_string()
        };
        let mut status = json!({
            "observedGeneration": i64_at(&cur, "/metadata/generation", 1),
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
        set_status(sim, st, srt, &cur, status);
    }
}

pub(super) fn daemonsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let drt = rt(reg, "apps/daemonsets");
    let prt = rt(reg, "/pods");
    let mut all = scope.objects(st, "apps/daemonsets");
    all.retain(|s| !deleting(s));
    for ds in all {
        let ns = meta_str(&ds, "namespace").to_string();
        let name = meta_str(&ds, "name").to_string();
        let uid = meta_str(&ds, "uid").to_string();
        let template = ds.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()) && pod_active(p))
            .cloned()
            .collect();
        for p in &pods {
            if p.pointer("/metadata/labels/controller-revision-hash")
                .and_then(Value::as_str)
                != Some(hash.as_str())
            {
                delete_obj(sim, st, prt, &ns, meta_str(p, "name"), "Background");
            }
        }
        let current: Vec<&Value> = pods
            .iter()
            .filter(|p| {
                p.pointer("/metadata/labels/controller-revision-hash")
                    .and_then(Value::as_str)
                    == Some(hash.as_str())
            })
            .collect();
        if current.is_empty() {
            let pname = format!("{name}-{}", random_suffix(5));
            let extra = [
                ("controller-revision-hash", hash.clone()),
                (
                    "pod-template-generation",
                    i64_at(&ds, "/metadata/generation", 1).to_string(),
                ),
            ];
            let mut pod = new_pod(&ds, "apps/v1", "DaemonSet", &template, &pname, &extra);
            pod["spec"]["nodeName"] = json!(NODE_NAME);
            if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
                record_event(
                    sim,
                    reg,
                    st,
                    &ds,
                    "Normal",
                    "SuccessfulCreate",
                    &format!("Created pod: {pname}"),
                    "daemonset-controller",
                    None,
                );
            }
        }
        let ready = current.iter().filter(|p| pod_ready(p)).count() as i64;
        let Some(cur) = st.get("apps/daemonsets", &ns, &name).cloned() else {
            continue;
        };
        let status = json!({
            "currentNumberScheduled": 1, "numberMisscheduled": 0, "desiredNumberScheduled": 1,
            "numberReady": ready, "observedGeneration": i64_at(&cur, "/metadata/generation", 1),
            "updatedNumberScheduled": current.len(), "numberAvailable": ready,
            "numberUnavailable": 1 - ready.min(1),
        });
        let mut status = status;
        if ready >= 1 {
            status.as_object_mut().map(|m| m.remove("numberUnavailable"));
        } else {
            status.as_object_mut().map(|m| m.remove("numberAvailable"));
        }
        set_status(sim, st, drt, &cur, status);
    }
}
