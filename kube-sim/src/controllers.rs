//! Simulated control plane: namespace lifecycle, garbage collector, Deployment / ReplicaSet /
//! StatefulSet / DaemonSet / Job controllers and a kubelet that runs pods (with fault
//! injection), records Events and serves logs.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::response::Response;
use bytes::Bytes;
use serde_json::{Value, json};
use tokio::sync::watch;

use crate::defaults::{NODE_NAME, now, random_suffix, safe_hash};
use crate::errors::{ApiError, ApiResult};
use crate::ops::{self, DeleteOpts, WriteOpts, meta_str};
use crate::registry::{Registry, ResourceType};
use crate::selectors::LabelSelector;
use crate::store::Store;
use crate::{PodSim, Sim};

pub const FAULT_ANNOTATION: &str = "kube-sim.o-neko.io/fault";
const CM: &str = "kube-controller-manager";

pub async fn run(sim: Arc<Sim>, mut shutdown: watch::Receiver<bool>) {
    let period = sim.cfg.controller_interval;
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A full pass (every object; time-driven steps such as pods becoming ready) runs on the
    // tick, but never takes more than about an eighth of the time: with a large store it runs
    // less often. Between full passes, writes trigger passes over the namespaces they touched.
    let mut last_full: Option<(Instant, Duration)> = None;
    loop {
        tokio::select! {
            _ = interval.tick() => {}
            _ = sim.notify.notified() => {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            _ = shutdown.changed() => return,
        }
        let full = last_full.is_none_or(|(at, cost)| at.elapsed() >= period.max(cost * 8));
        let s = sim.clone();
        // Reconciling is synchronous and short; keep it off the async workers' hot path.
        let started = Instant::now();
        let _ = tokio::task::spawn_blocking(move || reconcile_pass(&s, full)).await;
        if full {
            last_full = Some((started, started.elapsed()));
        }
    }
}

/// The namespaces a controller pass looks at (for the namespace controller: those namespace
/// objects; "" stands for cluster-scoped objects).
struct Scope(HashSet<String>);

impl Scope {
    /// Copies of the objects of `key` in scope.
    fn objects(&self, st: &Store, key: &str) -> Vec<Value> {
        if key == "/namespaces" {
            return self
                .0
                .iter()
                .filter_map(|n| st.get(key, "", n).cloned())
                .collect();
        }
        self.0
            .iter()
            .flat_map(|n| st.list(key, Some(n.as_str())).cloned())
            .collect()
    }
}

/// One full pass of every simulated controller.
pub fn reconcile(sim: &Sim) {
    reconcile_pass(sim, true);
}

/// How many namespaces a controller pass handles per hold of the store lock.
const CHUNK: usize = 16;

/// One pass of every controller: over everything (`full`), or only over the namespaces
/// written to since the last pass; in chunks of namespaces, releasing the store lock in
/// between so that API requests are not held up by a long pass.
fn reconcile_pass(sim: &Sim, full: bool) {
    let reg = sim.registry.read().clone();
    let names: Vec<String> = {
        let mut st = sim.store.lock();
        if full {
            let mut all: Vec<String> = st
                .list("/namespaces", None)
                .map(|n| meta_str(n, "name").to_string())
                .collect();
            all.push(String::new());
            all
        } else {
            std::mem::take(&mut st.dirty_namespaces).into_iter().collect()
        }
    };
    let mut changed = false;
    for chunk in names.chunks(CHUNK) {
        let mut st = sim.store.lock();
        for n in chunk {
            st.dirty_namespaces.remove(n);
        }
        let scope = Scope(chunk.iter().cloned().collect());
        changed |= controller_pass(sim, &reg, &mut st, &scope);
        parking_lot::MutexGuard::unlock_fair(st);
    }
    if full {
        // Forget pods that are gone (or going).
        let live: HashSet<String> = sim
            .store
            .lock()
            .list("/pods", None)
            .filter(|p| !deleting(p))
            .map(|p| meta_str(p, "uid").to_string())
            .collect();
        sim.kubelet.lock().pods.retain(|uid, _| live.contains(uid));
    }
    if changed {
        // Another pass soon: controllers react to each other's writes.
        sim.notify.notify_one();
    }
}

fn controller_pass(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) -> bool {
    st.changed = false;
    namespaces(sim, reg, st, scope);
    gc(sim, reg, st);
    deployments(sim, reg, st, scope);
    replica_controllers(sim, reg, st, "apps/replicasets", scope);
    replica_controllers(sim, reg, st, "/replicationcontrollers", scope);
    statefulsets(sim, reg, st, scope);
    daemonsets(sim, reg, st, scope);
    jobs(sim, reg, st, scope);
    kubelet(sim, reg, st, scope);
    st.changed
}

fn rt<'a>(reg: &'a Registry, key: &str) -> &'a ResourceType {
    reg.by_key(key).expect("built-in type registered")
}

fn opts(manager: &str, sub: Option<&str>) -> WriteOpts {
    WriteOpts {
        manager: manager.to_string(),
        subresource: sub.map(str::to_string),
        ..Default::default()
    }
}

fn deleting(o: &Value) -> bool {
    o.pointer("/metadata/deletionTimestamp").is_some()
}

fn i64_at(o: &Value, p: &str, default: i64) -> i64 {
    o.pointer(p).and_then(Value::as_i64).unwrap_or(default)
}

/// Writes `status` through the status subresource if it changed.
fn set_status(sim: &Sim, st: &mut Store, rt: &ResourceType, old: &Value, status: Value) {
    if old.get("status") == Some(&status) {
        return;
    }
    let mut new = old.clone();
    new["status"] = status;
    let v = rt.preferred_version().to_string();
    let _ = ops::commit_update(sim, st, rt, &v, old, new, &opts(CM, Some("status")), false);
}

fn update_obj(
    sim: &Sim,
    st: &mut Store,
    rt: &ResourceType,
    old: &Value,
    new: Value,
    manager: &str,
) -> Option<Value> {
    let v = rt.preferred_version().to_string();
    ops::commit_update(sim, st, rt, &v, old, new, &opts(manager, None), false).ok()
}

fn delete_obj(sim: &Sim, st: &mut Store, rt: &ResourceType, ns: &str, name: &str, policy: &str) {
    let v = rt.preferred_version().to_string();
    let _ = ops::delete(
        sim,
        st,
        rt,
        &v,
        ns,
        name,
        &DeleteOpts {
            propagation: Some(policy.to_string()),
            ..Default::default()
        },
    );
}

fn controller_of(o: &Value) -> Option<&str> {
    o.pointer("/metadata/ownerReferences")?
        .as_array()?
        .iter()
        .find(|r| r.get("controller") == Some(&json!(true)))?
        .get("uid")?
        .as_str()
}

fn owner_ref(owner: &Value, api_version: &str, kind: &str) -> Value {
    json!([{
        "apiVersion": api_version, "kind": kind,
        "name": meta_str(owner, "name"), "uid": meta_str(owner, "uid"),
        "controller": true, "blockOwnerDeletion": true
    }])
}

/// Records (or aggregates) a core/v1 Event about `obj`.
#[allow(clippy::too_many_arguments)]
pub fn record_event(
    sim: &Sim,
    reg: &Registry,
    st: &mut Store,
    obj: &Value,
    etype: &str,
    reason: &str,
    message: &str,
    component: &str,
    field_path: Option<&str>,
) {
    let ns = meta_str(obj, "namespace").to_string();
    let ns = if ns.is_empty() { "default".to_string() } else { ns };
    let uid = meta_str(obj, "uid").to_string();
    let erst = rt(reg, "/events");
    let t = now();
    let k = (uid.clone(), reason.to_string(), message.to_string());
    let existing = sim.kubelet.lock().event_names.get(&k).cloned();
    if let Some(name) = existing
        && let Some(old) = st.get("/events", &ns, &name).cloned()
    {
        let mut new = old.clone();
        new["count"] = json!(i64_at(&old, "/count", 1) + 1);
        new["lastTimestamp"] = json!(t);
        update_obj(sim, st, erst, &old, new, component);
        return;
    }
    let name = format!("{}.{:016x}", meta_str(obj, "name"), rand::random::<u64>() >> 8);
    let mut involved = json!({
        "kind": obj.get("kind").cloned().unwrap_or(Value::Null),
        "namespace": meta_str(obj, "namespace"),
        "name": meta_str(obj, "name"),
        "uid": uid,
        "apiVersion": obj.get("apiVersion").cloned().unwrap_or(Value::Null),
        "resourceVersion": meta_str(obj, "resourceVersion"),
    });
    if let Some(fp) = field_path {
        involved["fieldPath"] = json!(fp);
    }
    let mut source = json!({"component": component});
    if component == "kubelet" {
        source["host"] = json!(NODE_NAME);
    }
    let ev = json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name, "namespace": ns},
        "involvedObject": involved,
        "reason": reason, "message": message,
        "source": source,
        "firstTimestamp": t, "lastTimestamp": t, "count": 1, "type": etype,
        "eventTime": null,
        "reportingComponent": component,
        "reportingInstance": if component == "kubelet" { NODE_NAME.to_string() } else { String::new() },
    });
    if ops::create_internal(sim, st, erst, ev, component).is_ok() {
        sim.kubelet.lock().event_names.insert(k, name);
    }
}

// ---------------------------------------------------------------------------------------------
// Namespaces

fn namespaces(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let nsrt = rt(reg, "/namespaces");
    let all: Vec<Value> = scope.objects(st, "/namespaces");
    for ns in all {
        let name = meta_str(&ns, "name").to_string();
        if !deleting(&ns) {
            ensure_namespace_defaults(sim, reg, st, &name);
            continue;
        }
        let since = *sim
            .kubelet
            .lock()
            .namespace_deleted
            .entry(name.clone())
            .or_insert_with(Instant::now);
        let mut remaining = 0usize;
        let mut finalizers: HashSet<String> = HashSet::new();
        for t in reg.types.iter().filter(|t| t.namespaced) {
            let objs: Vec<(String, bool, Vec<String>)> = st
                .list(&t.key(), Some(&name))
                .map(|o| {
                    let f = o
                        .pointer("/metadata/finalizers")
                        .and_then(Value::as_array)
                        .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                        .unwrap_or_default();
                    (meta_str(o, "name").to_string(), deleting(o), f)
                })
                .collect();
            for (oname, is_deleting, f) in objs {
                if !is_deleting {
                    delete_obj(sim, st, t, &name, &oname, "Background");
                }
                if st.get(&t.key(), &name, &oname).is_some() {
                    remaining += 1;
                    finalizers.extend(f);
                }
            }
        }
        let t = now();
        let cond = |ty: &str, status: bool, reason: &str, msg: &str| json!({"type": ty, "status": if status {"True"} else {"False"}, "lastTransitionTime": t, "reason": reason, "message": msg});
        let conditions = vec![
            cond(
                "NamespaceDeletionDiscoveryFailure",
                false,
                "ResourcesDiscovered",
                "All resources successfully discovered",
            ),
            cond(
                "NamespaceDeletionGroupVersionParsingFailure",
                false,
                "ParsedGroupVersions",
                "All legacy kube types successfully parsed",
            ),
            cond(
                "NamespaceDeletionContentFailure",
                false,
                "ContentDeleted",
                "All content successfully deleted, may be waiting on finalization",
            ),
            if remaining > 0 {
                cond(
                    "NamespaceContentRemaining",
                    true,
                    "SomeResourcesRemain",
                    &format!("Some resources are remaining: {remaining} objects"),
                )
            } else {
                cond(
                    "NamespaceContentRemaining",
                    false,
                    "ContentRemoved",
                    "All content successfully removed",
                )
            },
            if finalizers.is_empty() {
                cond(
                    "NamespaceFinalizersRemaining",
                    false,
                    "ContentHasNoFinalizers",
                    "All content-preserving finalizers finished",
                )
            } else {
                let mut f: Vec<String> = finalizers.into_iter().collect();
                f.sort();
                cond(
                    "NamespaceFinalizersRemaining",
                    true,
                    "SomeFinalizersRemain",
                    &format!(
                        "Some content in the namespace has finalizers remaining: {}",
                        f.join(", ")
                    ),
                )
            },
        ];
        let same = |a: &Value, b: &Value| {
            let strip = |v: &Value| {
                v.as_array()
                    .map(|a| {
                        a.iter()
                            .map(|c| (c["type"].clone(), c["status"].clone(), c["message"].clone()))
                            .collect::<Vec<_>>()
                    })
                    .unwrap_or_default()
            };
            strip(a) == strip(b)
        };
        let Some(cur) = st.get("/namespaces", "", &name).cloned() else {
            continue;
        };
        if !same(
            cur.pointer("/status/conditions").unwrap_or(&Value::Null),
            &json!(conditions),
        ) {
            set_status(
                sim,
                st,
                nsrt,
                &cur,
                json!({"phase": "Terminating", "conditions": conditions}),
            );
        }
        if remaining == 0 && since.elapsed() >= sim.cfg.namespace_delete_delay {
            let Some(cur) = st.get("/namespaces", "", &name).cloned() else {
                continue;
            };
            let meta_finalizers = cur
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty());
            if meta_finalizers {
                continue;
            }
            st.remove("/namespaces", "", &name);
            sim.kubelet.lock().namespace_deleted.remove(&name);
        }
    }
}

fn ensure_namespace_defaults(sim: &Sim, reg: &Registry, st: &mut Store, ns: &str) {
    if st.get("/serviceaccounts", ns, "default").is_none() {
        let _ = ops::create_internal(
            sim,
            st,
            rt(reg, "/serviceaccounts"),
            json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": ns}}),
            CM,
        );
    }
    if st.get("/configmaps", ns, "kube-root-ca.crt").is_none() {
        let _ = ops::create_internal(
            sim,
            st,
            rt(reg, "/configmaps"),
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": "kube-root-ca.crt", "namespace": ns, "annotations": {"kubernetes.io/description": "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. No other usage is guaranteed across distributions of Kubernetes clusters."}},
                "data": {"ca.crt": sim.ca_pem}}),
            CM,
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Garbage collector

fn gc(sim: &Sim, reg: &Registry, st: &mut Store) {
    if !st.gc_dirty {
        return;
    }
    st.gc_dirty = false;
    // uid -> (key, ns, name, finalizers)
    let mut by_uid: HashMap<String, (String, String, String, Vec<String>)> = HashMap::new();
    let mut dependents: HashMap<String, Vec<(String, String, String)>> = HashMap::new();
    for t in &reg.types {
        let key = t.key();
        for o in st.list(&key, None) {
            let f: Vec<String> = o
                .pointer("/metadata/finalizers")
                .and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                .unwrap_or_default();
            let id = (
                key.clone(),
                meta_str(o, "namespace").to_string(),
                meta_str(o, "name").to_string(),
            );
            by_uid.insert(
                meta_str(o, "uid").to_string(),
                (id.0.clone(), id.1.clone(), id.2.clone(), f),
            );
            if let Some(refs) = o.pointer("/metadata/ownerReferences").and_then(Value::as_array) {
                for r in refs {
                    if let Some(u) = r.get("uid").and_then(Value::as_str) {
                        dependents.entry(u.to_string()).or_default().push(id.clone());
                    }
                }
            }
        }
    }
    for (owner_uid, deps) in &dependents {
        let owner = by_uid.get(owner_uid);
        let owner_finalizers = owner.map(|o| o.3.clone()).unwrap_or_default();
        let owner_obj = owner.and_then(|(k, ns, n, _)| st.get(k, ns, n)).cloned();
        let owner_deleting = owner_obj.as_ref().is_some_and(deleting);
        for (key, ns, name) in deps {
            let Some(dep) = st.get(key, ns, name).cloned() else {
                continue;
            };
            let Some(drt) = reg.by_key(key) else { continue };
            let orphaning = owner_deleting && owner_finalizers.iter().any(|f| f == "orphan");
            if orphaning {
                let mut new = dep.clone();
                if let Some(refs) = new
                    .pointer_mut("/metadata/ownerReferences")
                    .and_then(Value::as_array_mut)
                {
                    refs.retain(|r| r.get("uid").and_then(Value::as_str) != Some(owner_uid));
                    if refs.is_empty() {
                        new["metadata"]
                            .as_object_mut()
                            .map(|m| m.remove("ownerReferences"));
                    }
                }
                update_obj(sim, st, drt, &dep, new, "kube-controller-manager");
                continue;
            }
            if deleting(&dep) {
                continue;
            }
            // Delete when no owner is left, or when the owner is being deleted in foreground.
            let other_owners_alive = dep
                .pointer("/metadata/ownerReferences")
                .and_then(Value::as_array)
                .is_some_and(|refs| {
                    refs.iter().any(|r| {
                        r.get("uid")
                            .and_then(Value::as_str)
                            .is_some_and(|u| u != owner_uid && by_uid.contains_key(u))
                    })
                });
            let foreground = owner_deleting && owner_finalizers.iter().any(|f| f == "foregroundDeletion");
            if (owner.is_none() && !other_owners_alive) || foreground {
                let policy = if foreground { "Foreground" } else { "Background" };
                delete_obj(sim, st, drt, ns, name, policy);
            }
        }
    }
    // Owners waiting on GC finalizers.
    for (uid, (key, ns, name, finalizers)) in &by_uid {
        let is_fg = finalizers.iter().any(|f| f == "foregroundDeletion");
        let is_orphan = finalizers.iter().any(|f| f == "orphan");
        if !is_fg && !is_orphan {
            continue;
        }
        let Some(obj) = st.get(key, ns, name).cloned() else {
            continue;
        };
        if !deleting(&obj) {
            continue;
        }
        let remaining = dependents.get(uid).map_or(0, |d| {
            d.iter()
                .filter(|(k, n, m)| {
                    st.get(k, n, m).is_some_and(|o| {
                        o.pointer("/metadata/ownerReferences")
                            .and_then(Value::as_array)
                            .is_some_and(|refs| {
                                refs.iter()
                                    .any(|r| r.get("uid").and_then(Value::as_str) == Some(uid))
                            })
                    })
                })
                .count()
        });
        if remaining > 0 {
            st.gc_dirty = true;
            continue;
        }
        let Some(ort) = reg.by_key(key) else { continue };
        let mut new = obj.clone();
        if let Some(f) = new
            .pointer_mut("/metadata/finalizers")
            .and_then(Value::as_array_mut)
        {
            f.retain(|x| x != "foregroundDeletion" && x != "orphan");
        }
        update_obj(sim, st, ort, &obj, new, "kube-controller-manager");
    }
}

// ---------------------------------------------------------------------------------------------
// Deployments

fn percent_or_int(v: Option<&Value>, total: i64, round_up: bool, default: &str) -> i64 {
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

fn template_hash(template: &Value) -> String {
    let mut t = template.clone();
    if let Some(l) = t.pointer_mut("/metadata/labels").and_then(Value::as_object_mut) {
        l.remove("pod-template-hash");
    }
    safe_hash(&t)
}

fn cond_update(
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

fn deployments(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
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

// ---------------------------------------------------------------------------------------------
// ReplicaSets / ReplicationControllers

fn pod_ready(p: &Value) -> bool {
    p.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|cs| cs.iter().any(|c| c["type"] == "Ready" && c["status"] == "True"))
}

fn pod_active(p: &Value) -> bool {
    !deleting(p)
        && !matches!(
            p.pointer("/status/phase").and_then(Value::as_str),
            Some("Succeeded" | "Failed")
        )
}

fn new_pod(
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

fn replica_controllers(sim: &Sim, reg: &Registry, st: &mut Store, key: &str, scope: &Scope) {
    let rsrt = rt(reg, key);
    let prt = rt(reg, "/pods");
    let (av, kind) = if key == "apps/replicasets" {
        ("apps/v1", "ReplicaSet")
    } else {
        ("v1", "ReplicationController")
    };
    let mut all = scope.objects(st, key);
    all.retain(|r| !deleting(r));
    for rs in all {
        let ns = meta_str(&rs, "namespace").to_string();
        let name = meta_str(&rs, "name").to_string();
        let uid = meta_str(&rs, "uid").to_string();
        let desired = i64_at(&rs, "/spec/replicas", 1).max(0) as usize;
        let mut pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()) && pod_active(p))
            .cloned()
            .collect();
        let template = rs.pointer("/spec/template").cloned().unwrap_or(json!({}));
        if pods.len() < desired {
            for _ in pods.len()..desired {
                let pname = format!("{name}-{}", random_suffix(5));
                let pod = new_pod(&rs, av, kind, &template, &pname, &[]);
                if let Ok(p) = ops::create_internal(sim, st, prt, pod, CM) {
                    record_event(
                        sim,
                        reg,
                        st,
                        &rs,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {pname}"),
                        "replicaset-controller",
                        None,
                    );
                    pods.push(p);
                }
            }
        } else if pods.len() > desired {
            pods.sort_by_key(|p| {
                (
                    pod_ready(p),
                    std::cmp::Reverse(meta_str(p, "creationTimestamp").to_string()),
                )
            });
            let extra = pods.len() - desired;
            let victims: Vec<String> = pods
                .iter()
                .take(extra)
                .map(|p| meta_str(p, "name").to_string())
                .collect();
            for v in &victims {
                delete_obj(sim, st, prt, &ns, v, "Background");
                record_event(
                    sim,
                    reg,
                    st,
                    &rs,
                    "Normal",
                    "SuccessfulDelete",
                    &format!("Deleted pod: {v}"),
                    "replicaset-controller",
                    None,
                );
            }
            pods.retain(|p| !victims.iter().any(|v| v == meta_str(p, "name")));
        }
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()) && pod_active(p))
            .cloned()
            .collect();
        let ready = pods.iter().filter(|p| pod_ready(p)).count() as i64;
        let selector = if key == "apps/replicasets" {
            LabelSelector::from_object(rs.pointer("/spec/selector").unwrap_or(&Value::Null))
        } else {
            LabelSelector::from_object(
                &json!({"matchLabels": rs.pointer("/spec/selector").cloned().unwrap_or(json!({}))}),
            )
        };
        let labeled = pods.iter().filter(|p| selector.matches(p)).count() as i64;
        let Some(cur) = st.get(key, &ns, &name).cloned() else {
            continue;
        };
        let mut status = json!({"replicas": pods.len()});
        if labeled > 0 {
            status["fullyLabeledReplicas"] = json!(labeled);
        }
        if ready > 0 {
            status["readyReplicas"] = json!(ready);
            status["availableReplicas"] = json!(ready);
        }
        status["observedGeneration"] = json!(i64_at(&cur, "/metadata/generation", 1));
        set_status(sim, st, rsrt, &cur, status);
    }
}

// ---------------------------------------------------------------------------------------------
// StatefulSets and DaemonSets

fn statefulsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
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

fn daemonsets(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
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

// ---------------------------------------------------------------------------------------------
// Jobs

fn jobs(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let jrt = rt(reg, "batch/jobs");
    let prt = rt(reg, "/pods");
    let mut all = scope.objects(st, "batch/jobs");
    all.retain(|j| !deleting(j));
    for job in all {
        let ns = meta_str(&job, "namespace").to_string();
        let name = meta_str(&job, "name").to_string();
        let uid = meta_str(&job, "uid").to_string();
        let conds: Vec<Value> = job
            .pointer("/status/conditions")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let finished = conds
            .iter()
            .any(|c| (c["type"] == "Complete" || c["type"] == "Failed") && c["status"] == "True");
        if finished || job.pointer("/spec/suspend") == Some(&json!(true)) {
            continue;
        }
        let pods: Vec<Value> = st
            .list("/pods", Some(&ns))
            .filter(|p| controller_of(p) == Some(uid.as_str()))
            .cloned()
            .collect();
        let phase = |p: &Value| {
            p.pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        let succeeded = pods.iter().filter(|p| phase(p) == "Succeeded").count() as i64;
        let failed = pods.iter().filter(|p| phase(p) == "Failed").count() as i64;
        let mut active: Vec<&Value> = pods.iter().filter(|p| pod_active(p)).collect();
        let completions = i64_at(&job, "/spec/completions", 1);
        let parallelism = i64_at(&job, "/spec/parallelism", 1);
        let backoff = i64_at(&job, "/spec/backoffLimit", 6);
        let t = now();
        let mut status = job
            .get("status")
            .cloned()
            .filter(Value::is_object)
            .unwrap_or(json!({}));
        if status.get("startTime").is_none() {
            status["startTime"] = json!(t);
        }
        let mut conds = conds;
        let mut created = vec![];
        if succeeded >= completions {
            cond_update(
                &mut conds,
                "SuccessCriteriaMet",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                false,
            );
            cond_update(
                &mut conds,
                "Complete",
                "True",
                "CompletionsReached",
                "Reached expected number of succeeded pods",
                false,
            );
            status["completionTime"] = json!(t);
            active.clear();
            record_event(
                sim,
                reg,
                st,
                &job,
                "Normal",
                "Completed",
                "Job completed",
                "job-controller",
                None,
            );
        } else if failed > backoff {
            cond_update(
                &mut conds,
                "FailureTarget",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                false,
            );
            cond_update(
                &mut conds,
                "Failed",
                "True",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                false,
            );
            let victims: Vec<String> = active.iter().map(|p| meta_str(p, "name").to_string()).collect();
            for v in victims {
                delete_obj(sim, st, prt, &ns, &v, "Background");
            }
            active.clear();
            record_event(
                sim,
                reg,
                st,
                &job,
                "Warning",
                "BackoffLimitExceeded",
                "Job has reached the specified backoff limit",
                "job-controller",
                None,
            );
        } else {
            let want = parallelism.min(completions - succeeded).max(0);
            let template = job.pointer("/spec/template").cloned().unwrap_or(json!({}));
            for _ in (active.len() as i64)..want {
                let pname = format!("{name}-{}", random_suffix(5));
                let pod = new_pod(&job, "batch/v1", "Job", &template, &pname, &[]);
                if ops::create_internal(sim, st, prt, pod, CM).is_ok() {
                    record_event(
                        sim,
                        reg,
                        st,
                        &job,
                        "Normal",
                        "SuccessfulCreate",
                        &format!("Created pod: {pname}"),
                        "job-controller",
                        None,
                    );
                    created.push(pname);
                }
            }
        }
        let n_active = active.len() as i64 + created.len() as i64;
        for (k, v) in [("active", n_active), ("succeeded", succeeded), ("failed", failed)] {
            if v > 0 {
                status[k] = json!(v);
            } else if let Some(m) = status.as_object_mut() {
                m.remove(k);
            }
        }
        status["ready"] = json!(active.iter().filter(|p| pod_ready(p)).count());
        status["terminating"] = json!(0);
        status["uncountedTerminatedPods"] = json!({});
        if !conds.is_empty() {
            status["conditions"] = json!(conds);
        }
        let Some(cur) = st.get("batch/jobs", &ns, &name).cloned() else {
            continue;
        };
        set_status(sim, st, jrt, &cur, status);
    }
}

// ---------------------------------------------------------------------------------------------
// Kubelet

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    None,
    ImagePullBackOff,
    CrashLoop,
    NeverReady,
    Fail,
}

pub fn fault_of(pod: &Value, image: &str) -> Fault {
    let ann = pod
        .pointer(&format!(
            "/metadata/annotations/{}",
            FAULT_ANNOTATION.replace('/', "~1")
        ))
        .and_then(Value::as_str)
        .unwrap_or("");
    let has = |f: &str| image.contains(&format!("fault-{f}")) || ann == f;
    if has("imagepullbackoff") || has("errimagepull") {
        Fault::ImagePullBackOff
    } else if has("crashloop") {
        Fault::CrashLoop
    } else if has("never-ready") {
        Fault::NeverReady
    } else if has("fail") {
        Fault::Fail
    } else {
        Fault::None
    }
}

fn repo_of(image: &str) -> &str {
    let no_digest = image.split('@').next().unwrap_or(image);
    match no_digest.rfind(':') {
        Some(i) if !no_digest[i..].contains('/') => &no_digest[..i],
        _ => no_digest,
    }
}

pub fn image_id(sim: &Sim, image: &str) -> String {
    let digest = sim.digests.lock().get(image).cloned().unwrap_or_else(|| {
        if let Some((_, d)) = image.split_once('@') {
            return d.to_string();
        }
        use sha2::Digest;
        let h = sha2::Sha256::digest(image.as_bytes());
        format!(
            "sha256:{}",
            h.iter().map(|b| format!("{b:02x}")).collect::<String>()
        )
    });
    format!("docker-pullable://{}@{digest}", repo_of(image))
}

fn ts(t: chrono::DateTime<chrono::Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

fn container_id(pod_uid: &str, name: &str, restart: u32) -> String {
    use sha2::Digest;
    let h = sha2::Sha256::digest(format!("{pod_uid}/{name}/{restart}").as_bytes());
    format!(
        "containerd://{}",
        h.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

/// Crash-loop timeline: (restarts so far, running?, last crash time offset, current window start).
fn crash_timeline(elapsed: Duration, period: Duration) -> (u32, bool, Duration, Duration) {
    let mut t = Duration::ZERO;
    let mut restarts = 0u32;
    let mut last_crash = Duration::ZERO;
    loop {
        // Running for one period, then crash; back-off doubles (capped).
        let run_end = t + period;
        if elapsed < run_end {
            return (restarts, true, last_crash, t);
        }
        let backoff = period * 2u32.pow(restarts.min(4));
        if elapsed < run_end + backoff {
            return (restarts + 1, false, run_end, run_end);
        }
        t = run_end + backoff;
        last_crash = run_end;
        restarts += 1;
    }
}

struct ContainerOutcome {
    status: Value,
    ready: bool,
    running: bool,
    terminated: Option<i64>,
    waiting_reason: Option<String>,
}

#[allow(clippy::too_many_arguments)]
fn container_status(
    sim: &Sim,
    pod: &Value,
    c: &Value,
    elapsed: Duration,
    delay: Duration,
    start: chrono::DateTime<chrono::Utc>,
    run_to_completion: bool,
    init: bool,
) -> ContainerOutcome {
    let name = c.get("name").and_then(Value::as_str).unwrap_or("");
    let image = c.get("image").and_then(Value::as_str).unwrap_or("");
    let uid = meta_str(pod, "uid");
    let fault = fault_of(pod, image);
    let at = |d: Duration| ts(start + chrono::Duration::from_std(d).unwrap_or_default());
    let mut s = json!({"name": name, "image": image, "imageID": "", "ready": false, "restartCount": 0, "started": false});
    let waiting = |s: &mut Value, reason: &str, msg: Option<String>| {
        let mut w = json!({"reason": reason});
        if let Some(m) = msg {
            w["message"] = json!(m);
        }
        s["state"] = json!({"waiting": w});
    };
    if elapsed < delay {
        waiting(
            &mut s,
            if init {
                "PodInitializing"
            } else {
                "ContainerCreating"
            },
            None,
        );
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: None,
            waiting_reason: Some("ContainerCreating".into()),
        };
    }
    if fault == Fault::ImagePullBackOff {
        let (reason, msg) = if elapsed < delay * 2 {
            (
                "ErrImagePull",
                format!(
                    "failed to pull and unpack image \"{image}\": failed to resolve reference \"{image}\": pull access denied, repository does not exist or may require authorization"
                ),
            )
        } else {
            (
                "ImagePullBackOff",
                format!(
                    "Back-off pulling image \"{image}\": ErrImagePull: failed to pull and unpack image \"{image}\""
                ),
            )
        };
        waiting(&mut s, reason, Some(msg));
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: None,
            waiting_reason: Some(reason.into()),
        };
    }
    s["imageID"] = json!(image_id(sim, image));
    if fault == Fault::CrashLoop {
        let (restarts, running, last_crash, window) =
            crash_timeline(elapsed - delay, delay.max(Duration::from_millis(100)));
        s["restartCount"] = json!(restarts);
        s["containerID"] = json!(container_id(uid, name, restarts));
        if restarts > 0 {
            s["lastState"] = json!({"terminated": {"exitCode": 1, "reason": "Error", "startedAt": at(delay), "finishedAt": at(delay + last_crash.max(window)), "containerID": container_id(uid, name, restarts - 1)}});
        }
        if running {
            s["state"] = json!({"running": {"startedAt": at(delay + window)}});
            s["started"] = json!(true);
            return ContainerOutcome {
                status: s,
                ready: false,
                running: true,
                terminated: None,
                waiting_reason: None,
            };
        }
        let back = 10u64 * 2u64.pow(restarts.saturating_sub(1).min(5));
        waiting(
            &mut s,
            "CrashLoopBackOff",
            Some(format!(
                "back-off {}s restarting failed container={name} pod={}_{}({uid})",
                back.min(300),
                meta_str(pod, "name"),
                meta_str(pod, "namespace")
            )),
        );
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: None,
            waiting_reason: Some("CrashLoopBackOff".into()),
        };
    }
    s["containerID"] = json!(container_id(uid, name, 0));
    if init || (run_to_completion && elapsed >= delay * 2) {
        let code = if fault == Fault::Fail { 1 } else { 0 };
        let finish = if init { delay } else { delay * 2 };
        s["state"] = json!({"terminated": {"exitCode": code, "reason": if code == 0 { "Completed" } else { "Error" }, "startedAt": at(delay), "finishedAt": at(finish), "containerID": container_id(uid, name, 0)}});
        return ContainerOutcome {
            status: s,
            ready: false,
            running: false,
            terminated: Some(code),
            waiting_reason: None,
        };
    }
    s["state"] = json!({"running": {"startedAt": at(delay)}});
    s["started"] = json!(true);
    let ready = fault != Fault::NeverReady;
    s["ready"] = json!(ready);
    ContainerOutcome {
        status: s,
        ready,
        running: true,
        terminated: None,
        waiting_reason: None,
    }
}

fn kubelet(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
    let prt = rt(reg, "/pods");
    let delay = sim.cfg.pod_ready_delay;
    let mut pods = scope.objects(st, "/pods");
    pods.retain(|p| !deleting(p));
    for pod in pods {
        let uid = meta_str(&pod, "uid").to_string();
        let ns = meta_str(&pod, "namespace").to_string();
        let name = meta_str(&pod, "name").to_string();
        let phase_now = pod.pointer("/status/phase").and_then(Value::as_str).unwrap_or("");
        if matches!(phase_now, "Succeeded" | "Failed") {
            continue;
        }
        let (ps, fresh) = {
            let mut k = sim.kubelet.lock();
            let fresh = !k.pods.contains_key(&uid);
            if fresh {
                k.next_pod_ip += 1;
                let n = k.next_pod_ip;
                let ip = format!("10.244.{}.{}", n / 250, n % 250 + 2);
                k.pods.insert(
                    uid.clone(),
                    PodSim {
                        created: Instant::now(),
                        created_wall: chrono::Utc::now(),
                        ip,
                        events: HashSet::new(),
                    },
                );
            }
            (k.pods.get(&uid).cloned().expect("just inserted"), fresh)
        };
        // The scheduler binds the pod to the one node.
        let mut pod = pod;
        if pod
            .pointer("/spec/nodeName")
            .and_then(Value::as_str)
            .is_none_or(str::is_empty)
        {
            pod["spec"]["nodeName"] = json!(NODE_NAME);
            pod = st.put("/pods", pod);
        }
        if fresh {
            record_event(
                sim,
                reg,
                st,
                &pod,
                "Normal",
                "Scheduled",
                &format!("Successfully assigned {ns}/{name} to {NODE_NAME}"),
                "default-scheduler",
                None,
            );
        }
        let elapsed = ps.created.elapsed();
        let start = ps.created_wall;
        let at = |d: Duration| ts(start + chrono::Duration::from_std(d).unwrap_or_default());
        let restart_policy = pod
            .pointer("/spec/restartPolicy")
            .and_then(Value::as_str)
            .unwrap_or("Always")
            .to_string();
        let run_to_completion = restart_policy != "Always";
        let containers: Vec<Value> = pod
            .pointer("/spec/containers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let inits: Vec<Value> = pod
            .pointer("/spec/initContainers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let outcomes: Vec<ContainerOutcome> = containers
            .iter()
            .map(|c| container_status(sim, &pod, c, elapsed, delay, start, run_to_completion, false))
            .collect();
        let init_outcomes: Vec<ContainerOutcome> = inits
            .iter()
            .map(|c| container_status(sim, &pod, c, elapsed, delay, start, true, true))
            .collect();
        let all_ready = !outcomes.is_empty() && outcomes.iter().all(|o| o.ready);
        let any_running = outcomes.iter().any(|o| o.running);
        let all_terminated = !outcomes.is_empty() && outcomes.iter().all(|o| o.terminated.is_some());
        let any_failed = outcomes.iter().any(|o| o.terminated.is_some_and(|c| c != 0));
        let phase = if all_terminated {
            if any_failed { "Failed" } else { "Succeeded" }
        } else if any_running
            || outcomes
                .iter()
                .any(|o| o.waiting_reason.as_deref() == Some("CrashLoopBackOff"))
        {
            "Running"
        } else {
            "Pending"
        };
        let started = elapsed >= delay;
        let cond = |ty: &str, ok: bool, t: String, reason: Option<&str>| {
            let mut c = json!({"type": ty, "status": if ok {"True"} else {"False"}, "lastProbeTime": null, "lastTransitionTime": t, "observedGeneration": i64_at(&pod, "/metadata/generation", 1)});
            if let Some(r) = reason {
                c["reason"] = json!(r);
            }
            c
        };
        let not_ready_reason = if phase == "Succeeded" || phase == "Failed" {
            "PodCompleted"
        } else {
            "ContainersNotReady"
        };
        let created_t = at(Duration::ZERO);
        let ready_t = if started { at(delay) } else { created_t.clone() };
        let conditions = vec![
            cond("PodReadyToStartContainers", started, ready_t.clone(), None),
            cond(
                "Initialized",
                true,
                created_t.clone(),
                if phase == "Succeeded" || phase == "Failed" {
                    Some("PodCompleted")
                } else {
                    None
                },
            ),
            cond(
                "Ready",
                all_ready,
                ready_t.clone(),
                if all_ready { None } else { Some(not_ready_reason) },
            ),
            cond(
                "ContainersReady",
                all_ready,
                ready_t.clone(),
                if all_ready { None } else { Some(not_ready_reason) },
            ),
            cond("PodScheduled", true, created_t.clone(), None),
        ];
        let qos = if containers
            .iter()
            .any(|c| c.pointer("/resources/requests").is_some() || c.pointer("/resources/limits").is_some())
        {
            "Burstable"
        } else {
            "BestEffort"
        };
        let mut status = json!({
            "observedGeneration": i64_at(&pod, "/metadata/generation", 1),
            "phase": phase,
            "conditions": conditions,
            "hostIP": "172.18.0.2",
            "hostIPs": [{"ip": "172.18.0.2"}],
            "startTime": created_t,
            "containerStatuses": outcomes.iter().map(|o| o.status.clone()).collect::<Vec<_>>(),
            "qosClass": qos,
        });
        if !init_outcomes.is_empty() {
            status["initContainerStatuses"] =
                json!(init_outcomes.iter().map(|o| o.status.clone()).collect::<Vec<_>>());
        }
        if started {
            status["podIP"] = json!(ps.ip);
            status["podIPs"] = json!([{"ip": ps.ip}]);
        }
        if pod.get("status") != Some(&status) {
            set_status(sim, st, prt, &pod, status);
        }
        // Kubelet events, once each (BackOff events aggregate by count).
        let emit =
            |key: String, etype: &str, reason: &str, msg: String, fp: Option<String>, st: &mut Store| {
                let once = !matches!(reason, "BackOff");
                let mut k = sim.kubelet.lock();
                let Some(p) = k.pods.get_mut(&uid) else { return };
                if once && !p.events.insert(key) {
                    return;
                }
                drop(k);
                let cur = st.get("/pods", &ns, &name).cloned().unwrap_or(pod.clone());
                record_event(sim, reg, st, &cur, etype, reason, &msg, "kubelet", fp.as_deref());
            };
        for (c, o) in containers.iter().zip(outcomes.iter()) {
            let cname = c.get("name").and_then(Value::as_str).unwrap_or("").to_string();
            let image = c.get("image").and_then(Value::as_str).unwrap_or("").to_string();
            let fp = Some(format!("spec.containers{{{cname}}}"));
            if !started {
                continue;
            }
            match o.waiting_reason.as_deref() {
                Some("ErrImagePull") | Some("ImagePullBackOff") => {
                    emit(
                        format!("{cname}/pulling"),
                        "Normal",
                        "Pulling",
                        format!("Pulling image \"{image}\""),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/failed"),
                        "Warning",
                        "Failed",
                        format!(
                            "Failed to pull image \"{image}\": pull access denied, repository does not exist or may require authorization"
                        ),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/errimagepull"),
                        "Warning",
                        "Failed",
                        "Error: ErrImagePull".to_string(),
                        fp.clone(),
                        st,
                    );
                    if o.waiting_reason.as_deref() == Some("ImagePullBackOff") {
                        emit(
                            format!("{cname}/backoff-pull"),
                            "Normal",
                            "BackOff",
                            format!("Back-off pulling image \"{image}\""),
                            fp.clone(),
                            st,
                        );
                        emit(
                            format!("{cname}/imagepullbackoff"),
                            "Warning",
                            "Failed",
                            "Error: ImagePullBackOff".to_string(),
                            fp.clone(),
                            st,
                        );
                    }
                }
                _ => {
                    emit(
                        format!("{cname}/pulled"),
                        "Normal",
                        "Pulled",
                        format!("Container image \"{image}\" already present on machine"),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/created"),
                        "Normal",
                        "Created",
                        format!("Created container: {cname}"),
                        fp.clone(),
                        st,
                    );
                    emit(
                        format!("{cname}/started"),
                        "Normal",
                        "Started",
                        format!("Started container {cname}"),
                        fp.clone(),
                        st,
                    );
                    if o.waiting_reason.as_deref() == Some("CrashLoopBackOff") {
                        let restarts = o.status["restartCount"].as_i64().unwrap_or(0);
                        emit(
                            format!("{cname}/backoff-{restarts}"),
                            "Warning",
                            "BackOff",
                            format!("Back-off restarting failed container {cname} in pod {name}_{ns}({uid})"),
                            fp.clone(),
                            st,
                        );
                    }
                    if o.running && !o.ready && fault_of(&pod, &image) == Fault::NeverReady {
                        emit(
                            format!("{cname}/unhealthy"),
                            "Warning",
                            "Unhealthy",
                            "Readiness probe failed: HTTP probe failed with statuscode: 503".to_string(),
                            fp.clone(),
                            st,
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Logs

const LOG_LINE_EVERY: Duration = Duration::from_millis(500);

#[allow(clippy::too_many_arguments)]
fn log_line(
    ns: &str,
    pod: &str,
    container: &str,
    image: &str,
    i: u64,
    start: chrono::DateTime<chrono::Utc>,
    timestamps: bool,
    crash: bool,
) -> String {
    let t = start + chrono::Duration::milliseconds((i * LOG_LINE_EVERY.as_millis() as u64) as i64);
    let body = match i {
        0 => format!("starting {image} (simulated by kube-sim) in pod {ns}/{pod}, container {container}"),
        1 => "listening on 0.0.0.0:8080".to_string(),
        _ if crash => "panic: simulated crash (fault-crashloop)".to_string(),
        _ => format!("GET /healthz 200 ({i})"),
    };
    if timestamps {
        format!("{} {body}\n", t.format("%Y-%m-%dT%H:%M:%S%.9fZ"))
    } else {
        format!("{body}\n")
    }
}

/// GET pods/{name}/log.
pub fn pod_logs(sim: Arc<Sim>, ns: &str, name: &str, q: &HashMap<String, String>) -> ApiResult<Response> {
    let pod = sim
        .store
        .lock()
        .get("/pods", ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "pods", name))?;
    let containers: Vec<Value> = pod
        .pointer("/spec/containers")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c.get("name").and_then(Value::as_str))
        .collect();
    let cname = match q.get("container").filter(|c| !c.is_empty()) {
        Some(c) => {
            if !names.contains(&c.as_str()) {
                return Err(ApiError::bad_request(format!(
                    "container {c} is not valid for pod {name}"
                )));
            }
            c.clone()
        }
        None if names.len() == 1 => names[0].to_string(),
        None => {
            return Err(ApiError::bad_request(format!(
                "a container name must be specified for pod {name}, choose one of: [{}]",
                names.join(" ")
            )));
        }
    };
    let cs = pod
        .pointer("/status/containerStatuses")
        .and_then(Value::as_array)
        .and_then(|a| a.iter().find(|s| s["name"] == cname.as_str()).cloned());
    let waiting = match &cs {
        None => Some("ContainerCreating".to_string()),
        Some(s) => s
            .pointer("/state/waiting/reason")
            .and_then(Value::as_str)
            .map(str::to_string),
    };
    if let Some(w) = waiting.filter(|w| w != "CrashLoopBackOff") {
        let msg = if w.contains("ImagePull") {
            "trying and failing to pull image".to_string()
        } else {
            w
        };
        return Err(ApiError::bad_request(format!(
            "container \"{cname}\" in pod \"{name}\" is waiting to start: {msg}"
        )));
    }
    let image = containers
        .iter()
        .find(|c| c["name"] == cname.as_str())
        .and_then(|c| c.get("image").and_then(Value::as_str))
        .unwrap_or("")
        .to_string();
    let crash = fault_of(&pod, &image) == Fault::CrashLoop;
    let uid = meta_str(&pod, "uid").to_string();
    let (created, created_wall) = sim
        .kubelet
        .lock()
        .pods
        .get(&uid)
        .map(|p| (p.created, p.created_wall))
        .unwrap_or((Instant::now(), chrono::Utc::now()));
    let delay = sim.cfg.pod_ready_delay;
    let run_start = created_wall + chrono::Duration::from_std(delay).unwrap_or_default();
    let finished = matches!(
        pod.pointer("/status/phase").and_then(Value::as_str),
        Some("Succeeded" | "Failed")
    );
    let count_now = move || -> u64 {
        let e = created.elapsed().saturating_sub(delay);
        let n = 2 + (e.as_millis() / LOG_LINE_EVERY.as_millis()) as u64;
        if crash {
            n.min(3)
        } else if finished {
            n.min(4)
        } else {
            n
        }
    };
    let timestamps = q.get("timestamps").is_some_and(|v| v == "true" || v == "1");
    let total = count_now();
    let first = match q.get("tailLines").and_then(|t| t.parse::<u64>().ok()) {
        Some(t) => total.saturating_sub(t),
        None => 0,
    };
    let follow = q.get("follow").is_some_and(|v| v == "true" || v == "1");
    let (ns_s, name_s) = (ns.to_string(), name.to_string());
    let mut text = String::new();
    for i in first..total {
        text.push_str(&log_line(
            &ns_s,
            &name_s,
            &cname,
            &image,
            i,
            run_start,
            timestamps,
            crash && i >= 2,
        ));
    }
    if !follow {
        return Ok(axum::response::IntoResponse::into_response((
            [(axum::http::header::CONTENT_TYPE, "text/plain")],
            text,
        )));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    tokio::spawn(async move {
        if tx.send(Bytes::from(text)).await.is_err() {
            return;
        }
        let mut sent = total;
        loop {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                _ = tx.closed() => return,
            }
            let alive = sim
                .store
                .lock()
                .get("/pods", &ns_s, &name_s)
                .is_some_and(|p| meta_str(p, "uid") == uid && !deleting(p));
            if !alive {
                return;
            }
            let n = count_now();
            let mut chunk = String::new();
            for i in sent..n {
                chunk.push_str(&log_line(
                    &ns_s,
                    &name_s,
                    &cname,
                    &image,
                    i,
                    run_start,
                    timestamps,
                    crash && i >= 2,
                ));
            }
            sent = sent.max(n);
            if !chunk.is_empty() && tx.send(Bytes::from(chunk)).await.is_err() {
                return;
            }
        }
    });
    Ok(crate::api::stream_response("text/plain", rx))
}
