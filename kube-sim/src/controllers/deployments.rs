//! Deployments.

use super::*;

pub(super) fn percent_or_int(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
    let s = match v {
        Some(Value::Number(n)) => return n.as_i64().unwrap_or(0),
        Some(Value::String(s)) => s.clone(),
        _ => default.to_string(),
    };
    if let Some(p) = s.strip_suffix('%') {
        let p: i64 = p.parse().unwrap_or(25);
        if round_up {
            (total * p + 99) / 100
        } else {
            total * p / 100
        }
    } else {
        s.parse().unwrap_or(0)
    }
}

pub(super) fn template_hash(template: &Value) -> String {
    let mut t = template.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove("pod-template-hash");
    }
    safe_hash(&t)
}

pub(super) fn cond_update(
    conds: &mut Vec<Value>,
    ty: &str,
    status: &str,
    reason: &str,
    message: &str,
    update_time: bool,
) {
    let t = now();
    match conds.iter_mut().find(|c| c["type"] == ty) {
        Some(c) => {
            let changed = c["status"] != status;
            let msg_changed = c["reason"] != reason || c["message"] != message;
            if changed {
                c["lastTransitionTime"] = json!(t);
            }
            if (changed || msg_changed) && update_time {
                c["lastUpdateTime"] = json!(t);
            }
            c["status"] = json!(status);
            c["reason"] = json!(reason);
            c["message"] = json!(message);
        }
        None => {
            let mut c = json!({"type": ty, "status": status, "lastTransitionTime": t, "reason": reason, "message": message});
            if update_time {
                c["lastUpdateTime"] = json!(t);
            }
            conds.push(c);
        }
    }
}

pub(super) fn deployments(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let drt = rt(reg, "apps/deployments");
    let rsrt = rt(reg, "apps/replicasets");
    let mut all = scope.objects(st, "apps/deployments");
    all.retain(|d| !deleting(d));
    for d in all {
        let ns = meta_str(&d, "namespace").to_string();
        let dname = meta_str(&d, "name").to_string();
        let uid = meta_str(&d, "uid").to_string();
        let desired = i64_at(&d, "/spec/replicas", 1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let hash = template_hash(&template);
        let paused = d.pointer("/spec/paused") == Some(&json!(true));
        let owned: Vec<Value> = st
            .list("apps/replicasets", Some(&ns))
            .filter(|rs| controller_of(rs) == Some(uid.as_str()) && !deleting(rs))
            .cloned()
            .collect();
        let max_rev = owned
            .iter()
            .filter_map(|rs| {
                rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<i64>().ok())
            })
            .max()
            .unwrap_or(0);
        let max_surge = percent_or_int(
            d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
            desired,
            true,
            "25%",
        );
        let mut new_rs = owned
            .iter()
            .find(|rs| {
                rs.pointer("/metadata/labels/pod-template-hash")
                    .and_then(Value::as_str)
                    == Some(hash.as_str())
            })
            .cloned();
        let mut created_new = false;
        if new_rs.is_none() && !paused {
            let mut labels = template.pointer("/metadata/labels").cloned().unwrap_or(json!({}));
            labels["pod-template-hash"] = json!(hash);
            let mut tmpl = template.clone();
            tmpl["metadata"]["labels"] = labels.clone();
            let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
            selector["matchLabels"]["pod-template-hash"] = json!(hash);
            let rs_name = format!("{dname}-{hash}");
            let mut rs = json!({
                "apiVersion": "apps/v1", "kind": "ReplicaSet",
                "metadata": {
                    "name": rs_name, "namespace": ns, "labels": labels,
                    "annotations": {
                        "deployment.kubernetes.io/desired-replicas": desired.to_string(),
                        "deployment.kubernetes.io/max-replicas": (desired + max_surge).to_string(),
                        "deployment.kubernetes.io/revision": (max_rev + 1).to_string(),
                    },
                    "ownerReferences": owner_ref(&d, "apps/v1", "Deployment"),
                },
                "spec": {"replicas": desired, "selector": selector, "template": tmpl},
            });
            if let Some(m) = d.pointer("/spec/minReadySeconds") {
                rs["spec"]["minReadySeconds"] = m.clone();
            }
            if let Ok(created) = ops::create_internal(sim, st, rsrt, rs, CM) {
                record_event(
                    sim,
                    reg,
                    st,
                    &d,
                    "Normal",
                    "ScalingReplicaSet",
                    &format!("Scaled up replica set {rs_name} from 0 to {desired}"),
                    "deployment-controller",
                    None,
                );
                new_rs = st
                    .get("apps/replicasets", &ns, meta_str(&created, "name"))
                    .cloned();
                created_new = true;
            }
        }
        let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
        if let Some(nrs) = &new_rs {
            let cur = i64_at(nrs, "/spec/replicas", 0);
            let mut want_rev = None;
            let rev = nrs
                .pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                .and_then(Value::as_str)
                .and_then(|s| s.parse::<i64>().ok())
                .unwrap_or(0);
            if rev < max_rev {
                want_rev = Some(max_rev + 1);
            }
            let old_pods_left = owned
                .iter()
                .filter(|rs| meta_str(rs, "uid") != meta_str(nrs, "uid"))
                .any(|rs| i64_at(rs, "/status/replicas", 0) > 0);
            let target = if recreate && old_pods_left { 0 } else { desired };
            if (cur != target || want_rev.is_some()) && !paused {
                let mut new = nrs.clone();
                new["spec"]["replicas"] = json!(target);
                new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
                    json!(desired.to_string());
                if let Some(r) = want_rev {
                    new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] =
                        json!(r.to_string());
                }
                if update_obj(sim, st, rsrt, nrs, new, CM).is_some() && cur != target {
                    let verb = if target > cur { "up" } else { "down" };
                    record_event(
                        sim,
                        reg,
                        st,
                        &d,
                        "Normal",
                        "ScalingReplicaSet",
                        &format!(
                            "Scaled {verb} replica set {} from {cur} to {target}",
                            meta_str(nrs, "name")
                        ),
                        "deployment-controller",
                        None,
                    );
                }
            }
        }
        // Scale down old ReplicaSets once the new one is ready (or at once for Recreate).
        let new_uid = new_rs
            .as_ref()
            .map(|r| meta_str(r, "uid").to_string())
            .unwrap_or_default();
        let new_ready = new_rs
            .as_ref()
            .map_or(0, |r| i64_at(r, "/status/availableReplicas", 0));
        if !paused && (recreate || new_ready >= desired) {
            for rs in owned.iter().filter(|rs| meta_str(rs, "uid") != new_uid) {
                let cur = i64_at(rs, "/spec/replicas", 0);
                if cur > 0 {
                    let mut new = rs.clone();
                    new["spec"]["replicas"] = json!(0);
                    if update_obj(sim, st, rsrt, rs, new, CM).is_some() {
                        record_event(
                            sim,
                            reg,
                            st,
                            &d,
                            "Normal",
                            "ScalingReplicaSet",
                            &format!("Scaled down replica set {} from {cur} to 0", meta_str(rs, "name")),
                            "deployment-controller",
                            None,
                        );
                    }
                }
            }
        }
        // Revision history limit.
        let limit = i64_at(&d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
        let mut old_empty: Vec<&Value> = owned
            .iter()
            .filter(|rs| {
                meta_str(rs, "uid") != new_uid
                    && i64_at(rs, "/spec/replicas", 0) == 0
                    && i64_at(rs, "/status/replicas", 0) == 0
            })
            .collect();
        if old_empty.len() > limit {
            old_empty.sort_by_key(|rs| {
                rs.pointer("/metadata/annotations/deployment.kubernetes.io~1revision")
                    .and_then(Value::as_str)
                    .and_then(|s| s.parse::<i64>().ok())
                    .unwrap_or(0)
            });
            let excess = old_empty.len() - limit;
            let victims: Vec<String> = old_empty
                .iter()
                .take(excess)
                .map(|rs| meta_str(rs, "name").to_string())
                .collect();
            for v in victims {
                delete_obj(sim, st, rsrt, &ns, &v, "Background");
            }
        }

        // Status from the (fresh) ReplicaSets.
        let all_rs: Vec<Value> = st
            .list("apps/replicasets", Some(&ns))
            .filter(|rs| controller_of(rs) == Some(uid.as_str()))
            .cloned()
            .collect();
        let sum = |p: &str| all_rs.iter().map(|rs| i64_at(rs, p, 0)).sum::<i64>();
        let replicas = sum("/status/replicas");
        let ready = sum("/status/readyReplicas");
        let available = sum("/status/availableReplicas");
        let new_rs_fresh = all_rs.iter().find(|rs| meta_str(rs, "uid") == new_uid);
        let updated = new_rs_fresh.map_or(0, |r| i64_at(r, "/status/replicas", 0));
        let new_available = new_rs_fresh.map_or(0, |r| i64_at(r, "/status/availableReplicas", 0));
        let max_unavailable = percent_or_int(
            d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
            desired,
            false,
            "25%",
        );
        let max_unavailable = if recreate { 0 } else { max_unavailable };
        let Some(cur) = st.get("apps/deployments", &ns, &dname).cloned() else {
            continue;
        };
        let mut status = json!({"observedGeneration": i64_at(&cur, "/metadata/generation", 1)});
        let mut put = |k: &str, v: i64| {
            if v != 0 {
                status[k] = json!(v);
            }
        };
        put("replicas", replicas);
        put("updatedReplicas", updated);
        put("readyReplicas", ready);
        put("availableReplicas", available);
        put("unavailableReplicas", (desired - available).max(0));
        let mut conds: Vec<Value> = cur
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        if available >= desired - max_unavailable {
            cond_update(
                &mut conds,
                "Available",
                "True",
                "MinimumReplicasAvailable",
                "Deployment has minimum availability.",
                true,
            );
        } else {
            cond_update(
                &mut conds,
                "Available",
                "False",
                "MinimumReplicasUnavailable",
                "Deployment does not have minimum availability.",
                true,
            );
        }
        let rs_name = new_rs_fresh
            .map(|r| meta_str(r, "name").to_string())
            .unwrap_or_default();
        let complete = updated == desired && new_available == desired && replicas == desired;
        if paused {
            cond_update(
                &mut conds,
                "Progressing",
                "Unknown",
                "DeploymentPaused",
                "Deployment is paused",
                true,
            );
        } else if complete && !rs_name.is_empty() {
            cond_update(
                &mut conds,
                "Progressing",
                "True",
                "NewReplicaSetAvailable",
                &format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
                true,
            );
        } else if !rs_name.is_empty() {
            let deadline = i64_at(&cur, "/spec/progressDeadlineSeconds", 600);
            let prog = conds.iter().find(|c| c["type"] == "Progressing").cloned();
            let since = prog
                .as_ref()
                .and_then(|c| c["lastUpdateTime"].as_str())
                .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
                .unwrap_or(0);
            let reason = prog.as_ref().and_then(|c| c["reason"].as_str()).unwrap_or("");
            if reason == "ProgressDeadlineExceeded"
                || (since > deadline && reason != "NewReplicaSetAvailable")
            {
                cond_update(
                    &mut conds,
                    "Progressing",
                    "False",
                    "ProgressDeadlineExceeded",
                    &format!("ReplicaSet \"{rs_name}\" has timed out progressing."),
                    true,
                );
            } else if created_new || reason.is_empty() {
                cond_update(
                    &mut conds,
                    "Progressing",
                    "True",
                    "NewReplicaSetCreated",
                    &format!("Created new replica set \"{rs_name}\""),
                    true,
                );
            } else if reason != "NewReplicaSetCreated" || replicas > 0 {
                cond_update(
                    &mut conds,
                    "Progressing",
                    "True",
                    "ReplicaSetUpdated",
                    &format!("ReplicaSet \"{rs_name}\" is progressing."),
                    true,
                );
            }
        }
        conds.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
        status["conditions"] = json!(conds);
        set_status(sim, st, drt, &cur, status);
    }
}
