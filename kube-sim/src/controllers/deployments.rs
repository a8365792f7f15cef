//! Deployments: one ReplicaSet per pod template (named by the template's hash), the newest
//! scaled to `spec.replicas` and the older ones to zero once it is available (at once for
//! `Recreate`), old empty ones pruned beyond `revisionHistoryLimit`, and the status and
//! conditions kubectl's rollout status reads.
//!
//! The decisions are pure functions of the Deployment and its ReplicaSets; `sync` carries
//! them out.

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

const REVISION: &str = "/metadata/annotations/deployment.kubernetes.io~1revision";

/// A ReplicaSet's `deployment.kubernetes.io/revision` (0 without one).
fn revision(rs: &Value) -> i64 {
    rs.pointer(REVISION)
        .and_then(Value::as_str)
        .and_then(|s| s.parse::<i64>().ok())
        .unwrap_or(0)
}

/// What a Deployment's spec asks of a rollout.
struct Rollout {
    desired: i64,
    template: Value,
    hash: String,
    paused: bool,
    recreate: bool,
    max_surge: i64,
    /// 0 for `Recreate`.
    max_unavailable: i64,
}

impl Rollout {
    fn of(d: &Value) -> Self {
        let desired = i64_at(d, "/spec/replicas", 1);
        let template = d.pointer("/spec/template").cloned().unwrap_or(json!({}));
        let recreate = d.pointer("/spec/strategy/type") == Some(&json!("Recreate"));
        let max_unavailable = percent_or_int(
            d.pointer("/spec/strategy/rollingUpdate/maxUnavailable"),
            desired,
            false,
            "25%",
        );
        Rollout {
            desired,
            hash: template_hash(&template),
            template,
            paused: d.pointer("/spec/paused") == Some(&json!(true)),
            recreate,
            max_surge: percent_or_int(
                d.pointer("/spec/strategy/rollingUpdate/maxSurge"),
                desired,
                true,
                "25%",
            ),
            max_unavailable: if recreate { 0 } else { max_unavailable },
        }
    }

    /// Whether `rs` runs the current template.
    fn is_current(&self, rs: &Value) -> bool {
        rs.pointer("/metadata/labels/pod-template-hash")
            .and_then(Value::as_str)
            == Some(self.hash.as_str())
    }
}

/// The ReplicaSet a Deployment creates for its current template, at revision `max_rev + 1`.
fn new_replica_set(d: &Value, r: &Rollout, max_rev: i64) -> Value {
    let mut labels = r
        .template
        .pointer("/metadata/labels")
        .cloned()
        .unwrap_or(json!({}));
    labels["pod-template-hash"] = json!(r.hash);
    let mut tmpl = r.template.clone();
    tmpl["metadata"]["labels"] = labels.clone();
    let mut selector = d.pointer("/spec/selector").cloned().unwrap_or(json!({}));
    selector["matchLabels"]["pod-template-hash"] = json!(r.hash);
    let mut rs = json!({
        "apiVersion": "apps/v1", "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{}-{}", meta_str(d, "name"), r.hash),
            "namespace": meta_str(d, "namespace"),
            "labels": labels,
            "annotations": {
                "deployment.kubernetes.io/desired-replicas": r.desired.to_string(),
                "deployment.kubernetes.io/max-replicas": (r.desired + r.max_surge).to_string(),
                "deployment.kubernetes.io/revision": (max_rev + 1).to_string(),
            },
            "ownerReferences": owner_ref(d, "apps/v1", "Deployment"),
        },
        "spec": {"replicas": r.desired, "selector": selector, "template": tmpl},
    });
    if let Some(m) = d.pointer("/spec/minReadySeconds") {
        rs["spec"]["minReadySeconds"] = m.clone();
    }
    rs
}

/// The new ReplicaSet as it should be: at `spec.replicas` (0 while a `Recreate`'s old pods
/// remain), its revision above every other one's (a rollback to an old template makes it the
/// newest). `None` when it already is, or the Deployment is paused.
fn new_rs_update(r: &Rollout, nrs: &Value, owned: &[Value], max_rev: i64) -> Option<Value> {
    let cur = i64_at(nrs, "/spec/replicas", 0);
    let want_rev = (revision(nrs) < max_rev).then_some(max_rev + 1);
    let old_pods_left = owned
        .iter()
        .filter(|rs| meta_str(rs, "uid") != meta_str(nrs, "uid"))
        .any(|rs| i64_at(rs, "/status/replicas", 0) > 0);
    let target = if r.recreate && old_pods_left { 0 } else { r.desired };
    if r.paused || (cur == target && want_rev.is_none()) {
        return None;
    }
    let mut new = nrs.clone();
    new["spec"]["replicas"] = json!(target);
    new["metadata"]["annotations"]["deployment.kubernetes.io/desired-replicas"] =
        json!(r.desired.to_string());
    if let Some(rev) = want_rev {
        new["metadata"]["annotations"]["deployment.kubernetes.io/revision"] = json!(rev.to_string());
    }
    Some(new)
}

/// The old ReplicaSets to scale to zero: those with replicas, once the new one has all its
/// pods available (at once for `Recreate`); none while paused.
fn old_to_scale_down<'a>(r: &Rollout, owned: &'a [Value], new_rs: Option<&Value>) -> Vec<&'a Value> {
    let new_uid = new_rs.map_or("", |rs| meta_str(rs, "uid"));
    let new_ready = new_rs.map_or(0, |rs| i64_at(rs, "/status/availableReplicas", 0));
    if r.paused || !(r.recreate || new_ready >= r.desired) {
        return vec![];
    }
    owned
        .iter()
        .filter(|rs| meta_str(rs, "uid") != new_uid && i64_at(rs, "/spec/replicas", 0) > 0)
        .collect()
}

/// The old, empty ReplicaSets beyond `revisionHistoryLimit`, oldest revision first.
fn history_to_prune(d: &Value, owned: &[Value], new_uid: &str) -> Vec<String> {
    let limit = i64_at(d, "/spec/revisionHistoryLimit", 10).max(0) as usize;
    let mut old_empty: Vec<&Value> = owned
        .iter()
        .filter(|rs| {
            meta_str(rs, "uid") != new_uid
                && i64_at(rs, "/spec/replicas", 0) == 0
                && i64_at(rs, "/status/replicas", 0) == 0
        })
        .collect();
    if old_empty.len() <= limit {
        return vec![];
    }
    old_empty.sort_by_key(|rs| revision(rs));
    let excess = old_empty.len() - limit;
    old_empty
        .iter()
        .take(excess)
        .map(|rs| meta_str(rs, "name").to_string())
        .collect()
}

/// Pod counts summed over a Deployment's ReplicaSets.
struct Counts {
    replicas: i64,
    updated: i64,
    ready: i64,
    available: i64,
    new_available: i64,
}

/// The Deployment's status, from its current object and its ReplicaSets as they are now.
fn deployment_status(cur: &Value, r: &Rollout, all_rs: &[Value], new_uid: &str, created_new: bool) -> Value {
    let sum = |p: &str| all_rs.iter().map(|rs| i64_at(rs, p, 0)).sum::<i64>();
    let new_rs = all_rs.iter().find(|rs| meta_str(rs, "uid") == new_uid);
    let n = Counts {
        replicas: sum("/status/replicas"),
        ready: sum("/status/readyReplicas"),
        available: sum("/status/availableReplicas"),
        updated: new_rs.map_or(0, |rs| i64_at(rs, "/status/replicas", 0)),
        new_available: new_rs.map_or(0, |rs| i64_at(rs, "/status/availableReplicas", 0)),
    };
    let mut status = json!({"observedGeneration": i64_at(cur, "/metadata/generation", 1)});
    let mut put = |k: &str, v: i64| {
        if v != 0 {
            status[k] = json!(v);
        }
    };
    put("replicas", n.replicas);
    put("updatedReplicas", n.updated);
    put("readyReplicas", n.ready);
    put("availableReplicas", n.available);
    put("unavailableReplicas", (r.desired - n.available).max(0));
    let mut conds: Vec<Value> = cur
        .pointer("/status/conditions")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if n.available >= r.desired - r.max_unavailable {
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
    let rs_name = new_rs.map_or("", |rs| meta_str(rs, "name"));
    progressing(&mut conds, cur, r, rs_name, &n, created_new);
    conds.sort_by_key(|c| if c["type"] == "Available" { 0 } else { 1 });
    status["conditions"] = json!(conds);
    status
}

/// The Progressing condition: paused, complete, timed out (past `progressDeadlineSeconds`
/// since it last changed), or progressing.
fn progressing(
    conds: &mut Vec<Value>,
    cur: &Value,
    r: &Rollout,
    rs_name: &str,
    n: &Counts,
    created_new: bool,
) {
    let d = r.desired;
    let complete = n.updated == d && n.new_available == d && n.replicas == d;
    if r.paused {
        cond_update(
            conds,
            "Progressing",
            "Unknown",
            "DeploymentPaused",
            "Deployment is paused",
            true,
        );
        return;
    }
    if rs_name.is_empty() {
        return;
    }
    if complete {
        let msg = format!("ReplicaSet \"{rs_name}\" has successfully progressed.");
        cond_update(conds, "Progressing", "True", "NewReplicaSetAvailable", &msg, true);
        return;
    }
    let deadline = i64_at(cur, "/spec/progressDeadlineSeconds", 600);
    let prog = conds.iter().find(|c| c["type"] == "Progressing").cloned();
    let since = prog
        .as_ref()
        .and_then(|c| c["lastUpdateTime"].as_str())
        .and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok())
        .map(|t| (chrono::Utc::now() - t.with_timezone(&chrono::Utc)).num_seconds())
        .unwrap_or(0);
    let reason = prog.as_ref().and_then(|c| c["reason"].as_str()).unwrap_or("");
    if reason == "ProgressDeadlineExceeded" || (since > deadline && reason != "NewReplicaSetAvailable") {
        let msg = format!("ReplicaSet \"{rs_name}\" has timed out progressing.");
        cond_update(
            conds,
            "Progressing",
            "False",
            "ProgressDeadlineExceeded",
            &msg,
            true,
        );
    } else if created_new || reason.is_empty() {
        let msg = format!("Created new replica set \"{rs_name}\"");
        cond_update(conds, "Progressing", "True", "NewReplicaSetCreated", &msg, true);
    } else if reason != "NewReplicaSetCreated" || n.replicas > 0 {
        let msg = format!("ReplicaSet \"{rs_name}\" is progressing.");
        cond_update(conds, "Progressing", "True", "ReplicaSetUpdated", &msg, true);
    }
}

pub(super) fn deployments(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let mut all = scope.objects(st, "apps/deployments");
    all.retain(|d| !deleting(d));
    for d in all {
        sync(sim, reg, st, &d);
    }
}

fn scaled_event(sim: &Sim, reg: &Registry, st: &mut Store, d: &Value, message: &str) {
    record_event(
        sim,
        reg,
        st,
        d,
        &Note::normal("deployment-controller", "ScalingReplicaSet", message),
    );
}

/// One Deployment: its new ReplicaSet created or scaled, old ones scaled down and pruned,
/// its status written.
fn sync(sim: &Sim, reg: &Registry, st: &mut Store, d: &Value) {
    let rsrt = rt(reg, "apps/replicasets");
    let ns = meta_str(d, "namespace").to_string();
    let uid = meta_str(d, "uid").to_string();
    let r = Rollout::of(d);
    let owned: Vec<Value> = st
        .list("apps/replicasets", Some(&ns))
        .filter(|rs| controller_of(rs) == Some(uid.as_str()) && !deleting(rs))
        .cloned()
        .collect();
    let max_rev = owned.iter().map(revision).max().unwrap_or(0);
    let mut new_rs = owned.iter().find(|rs| r.is_current(rs)).cloned();
    let mut created_new = false;
    if new_rs.is_none() && !r.paused {
        let rs = new_replica_set(d, &r, max_rev);
        if let Ok(created) = ops::create_internal(sim, st, rsrt, rs, CM) {
            let name = meta_str(&created, "name");
            scaled_event(
                sim,
                reg,
                st,
                d,
                &format!("Scaled up replica set {name} from 0 to {}", r.desired),
            );
            new_rs = st.get("apps/replicasets", &ns, name).cloned();
            created_new = true;
        }
    }
    if let Some(nrs) = &new_rs
        && let Some(new) = new_rs_update(&r, nrs, &owned, max_rev)
    {
        let (cur, target) = (
            i64_at(nrs, "/spec/replicas", 0),
            i64_at(&new, "/spec/replicas", 0),
        );
        if update_obj(sim, st, rsrt, nrs, new, CM).is_some() && cur != target {
            let verb = if target > cur { "up" } else { "down" };
            let name = meta_str(nrs, "name");
            scaled_event(
                sim,
                reg,
                st,
                d,
                &format!("Scaled {verb} replica set {name} from {cur} to {target}"),
            );
        }
    }
    for rs in old_to_scale_down(&r, &owned, new_rs.as_ref()) {
        let cur = i64_at(rs, "/spec/replicas", 0);
        let mut new = rs.clone();
        new["spec"]["replicas"] = json!(0);
        if update_obj(sim, st, rsrt, rs, new, CM).is_some() {
            let name = meta_str(rs, "name");
            scaled_event(
                sim,
                reg,
                st,
                d,
                &format!("Scaled down replica set {name} from {cur} to 0"),
            );
        }
    }
    let new_uid = new_rs.as_ref().map_or("", |rs| meta_str(rs, "uid")).to_string();
    for victim in history_to_prune(d, &owned, &new_uid) {
        delete_obj(sim, st, rsrt, &ns, &victim, "Background");
    }
    // The status from the ReplicaSets as they are after the writes above.
    let all_rs: Vec<Value> = st
        .list("apps/replicasets", Some(&ns))
        .filter(|rs| controller_of(rs) == Some(uid.as_str()))
        .cloned()
        .collect();
    let Some(cur) = st.get("apps/deployments", &ns, meta_str(d, "name")).cloned() else {
        return;
    };
    let status = deployment_status(&cur, &r, &all_rs, &new_uid, created_new);
    set_status(sim, st, rt(reg, "apps/deployments"), &cur, status);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(image: &str, strategy: Value) -> Value {
        json!({
            "metadata": {"name": "web", "namespace": "ns", "uid": "d-uid", "generation": 2},
            "spec": {
                "replicas": 4,
                "selector": {"matchLabels": {"app": "web"}},
                "strategy": strategy,
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "web", "image": image}]},
                },
            },
        })
    }

    fn rolling() -> Value {
        json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": "25%", "maxUnavailable": "25%"}})
    }

    /// The ReplicaSet `d` makes, as stored: with a uid and `status` pods, `available` of them
    /// available.
    fn stored_rs(d: &Value, max_rev: i64, uid: &str, spec: i64, status: i64, available: i64) -> Value {
        let mut rs = new_replica_set(d, &Rollout::of(d), max_rev);
        rs["metadata"]["uid"] = json!(uid);
        rs["spec"]["replicas"] = json!(spec);
        rs["status"] =
            json!({"replicas": status, "readyReplicas": available, "availableReplicas": available});
        rs
    }

    fn condition<'a>(status: &'a Value, ty: &str) -> &'a Value {
        crate::controllers::condition(status, ty).expect("condition present")
    }

    #[test]
    fn a_changed_template_gets_a_new_replica_set_at_the_next_revision() {
        let v1 = deployment("web:1", rolling());
        let old = stored_rs(&v1, 0, "rs-1", 4, 4, 4);
        assert!(Rollout::of(&v1).is_current(&old));
        let v2 = deployment("web:2", rolling());
        let r2 = Rollout::of(&v2);
        assert!(!r2.is_current(&old), "the new template has another hash");
        let new = new_replica_set(&v2, &r2, revision(&old));
        assert_eq!(revision(&new), revision(&old) + 1);
        assert!(r2.is_current(&new));
        assert_eq!(new["metadata"]["name"], format!("web-{}", r2.hash));
        assert_eq!(
            new["spec"]["selector"]["matchLabels"]["pod-template-hash"],
            r2.hash
        );
        assert_eq!(new["spec"]["selector"]["matchLabels"]["app"], "web");
        assert_eq!(new["spec"]["replicas"], 4);
        // maxSurge 25% of 4 rounds up to one more pod.
        assert_eq!(
            new["metadata"]["annotations"]["deployment.kubernetes.io/max-replicas"],
            "5"
        );
        assert_eq!(new["metadata"]["ownerReferences"][0]["uid"], "d-uid");
    }

    #[test]
    fn old_replica_sets_are_scaled_down_once_the_new_one_is_available() {
        let v1 = deployment("web:1", rolling());
        let v2 = deployment("web:2", rolling());
        let r2 = Rollout::of(&v2);
        let old = stored_rs(&v1, 0, "rs-1", 4, 4, 4);
        let half = stored_rs(&v2, 1, "rs-2", 4, 4, 2);
        let owned = [old.clone(), half.clone()];
        assert!(old_to_scale_down(&r2, &owned, Some(&half)).is_empty());
        let ready = stored_rs(&v2, 1, "rs-2", 4, 4, 4);
        let owned = [old.clone(), ready.clone()];
        let down = old_to_scale_down(&r2, &owned, Some(&ready));
        assert_eq!(down.len(), 1);
        assert_eq!(meta_str(down[0], "uid"), "rs-1");
        // An old ReplicaSet already at zero is left alone.
        let emptied = stored_rs(&v1, 0, "rs-1", 0, 0, 0);
        assert!(old_to_scale_down(&r2, &[emptied, ready.clone()], Some(&ready)).is_empty());
        // Nothing moves while paused.
        let mut paused = v2.clone();
        paused["spec"]["paused"] = json!(true);
        assert!(old_to_scale_down(&Rollout::of(&paused), &owned, Some(&ready)).is_empty());
    }

    #[test]
    fn recreate_scales_the_old_down_at_once_and_the_new_up_after_its_pods_are_gone() {
        let recreate = json!({"type": "Recreate"});
        let v1 = deployment("web:1", recreate.clone());
        let v2 = deployment("web:2", recreate);
        let r2 = Rollout::of(&v2);
        let old = stored_rs(&v1, 0, "rs-1", 4, 4, 4);
        let new = stored_rs(&v2, 1, "rs-2", 4, 0, 0);
        let owned = [old.clone(), new.clone()];
        assert_eq!(old_to_scale_down(&r2, &owned, Some(&new)).len(), 1);
        let held = new_rs_update(&r2, &new, &owned, 2).expect("held at zero");
        assert_eq!(held["spec"]["replicas"], 0);
        let gone = stored_rs(&v1, 0, "rs-1", 0, 0, 0);
        let held = stored_rs(&v2, 1, "rs-2", 0, 0, 0);
        let up = new_rs_update(&r2, &held, &[gone, held.clone()], 2).expect("scaled up");
        assert_eq!(up["spec"]["replicas"], 4);
    }

    #[test]
    fn a_rollback_makes_the_old_replica_set_the_newest_revision() {
        let v1 = deployment("web:1", rolling());
        let back = stored_rs(&v1, 0, "rs-1", 0, 0, 0);
        let later = stored_rs(&deployment("web:2", rolling()), 1, "rs-2", 4, 4, 4);
        let owned = [back.clone(), later.clone()];
        let max_rev = owned.iter().map(revision).max().unwrap_or(0);
        let new = new_rs_update(&Rollout::of(&v1), &back, &owned, max_rev).expect("updated");
        assert_eq!(revision(&new), revision(&later) + 1);
        assert_eq!(new["spec"]["replicas"], 4);
        // At its replicas and already the newest: nothing to do.
        let current = Rollout::of(&deployment("web:2", rolling()));
        assert_eq!(new_rs_update(&current, &later, &owned, max_rev), None);
    }

    #[test]
    fn available_allows_max_unavailable_pods_missing() {
        let d = deployment("web:1", rolling());
        let r = Rollout::of(&d);
        assert_eq!(r.max_unavailable, 1, "25% of 4");
        let status_with = |available: i64| {
            let rs = stored_rs(&d, 0, "rs-1", 4, 4, available);
            deployment_status(&d, &r, &[rs], "rs-1", false)
        };
        let three = status_with(3);
        assert_eq!(condition(&three, "Available")["status"], "True");
        assert_eq!(three["unavailableReplicas"], 1);
        let two = status_with(2);
        assert_eq!(condition(&two, "Available")["status"], "False");
        assert_eq!(two["unavailableReplicas"], 2);
        // Recreate tolerates no missing pod.
        let strict = deployment("web:1", json!({"type": "Recreate"}));
        let rs = stored_rs(&strict, 0, "rs-1", 4, 4, 3);
        let s = deployment_status(&strict, &Rollout::of(&strict), &[rs], "rs-1", false);
        assert_eq!(condition(&s, "Available")["status"], "False");
    }

    #[test]
    fn progressing_reports_creation_progress_completion_and_pause() {
        let d = deployment("web:1", rolling());
        let r = Rollout::of(&d);
        let creating = stored_rs(&d, 0, "rs-1", 4, 0, 0);
        let s = deployment_status(&d, &r, &[creating], "rs-1", true);
        assert_eq!(condition(&s, "Progressing")["reason"], "NewReplicaSetCreated");
        let done = stored_rs(&d, 0, "rs-1", 4, 4, 4);
        let s = deployment_status(&d, &r, std::slice::from_ref(&done), "rs-1", false);
        let p = condition(&s, "Progressing");
        assert_eq!(
            (p["status"].as_str(), p["reason"].as_str()),
            (Some("True"), Some("NewReplicaSetAvailable"))
        );
        assert_eq!(s["updatedReplicas"], 4);
        assert_eq!(s["observedGeneration"], 2);
        let mut paused = d.clone();
        paused["spec"]["paused"] = json!(true);
        let s = deployment_status(&paused, &Rollout::of(&paused), &[done], "rs-1", false);
        assert_eq!(condition(&s, "Progressing")["status"], "Unknown");
    }

    #[test]
    fn history_beyond_the_limit_is_pruned_oldest_first() {
        let mut d = deployment("web:5", rolling());
        d["spec"]["revisionHistoryLimit"] = json!(1);
        let old: Vec<Value> = (1..=3)
            .map(|i| {
                let mut rs = stored_rs(
                    &deployment(&format!("web:{i}"), rolling()),
                    i - 1,
                    &format!("rs-{i}"),
                    0,
                    0,
                    0,
                );
                rs["metadata"]["name"] = json!(format!("web-old-{i}"));
                rs
            })
            .collect();
        let mut owned = old.clone();
        owned.push(stored_rs(&d, 3, "rs-new", 4, 4, 4));
        assert_eq!(history_to_prune(&d, &owned, "rs-new"), ["web-old-1", "web-old-2"]);
        // One that still has pods is not history yet.
        owned[0]["status"]["replicas"] = json!(1);
        assert_eq!(history_to_prune(&d, &owned, "rs-new"), ["web-old-2"]);
    }
}
