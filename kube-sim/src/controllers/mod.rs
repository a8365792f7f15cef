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

mod daemonsets;
mod deployments;
mod gc;
mod jobs;
mod kubelet;
mod logs;
mod namespaces;
mod replicasets;
mod statefulsets;

use daemonsets::*;
use deployments::*;
use gc::*;
use jobs::*;
use kubelet::*;
pub use logs::pod_logs;
use namespaces::*;
use replicasets::*;
use statefulsets::*;

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

/// A write by a controller, at the type's preferred version.
fn op<'a>(sim: &'a Sim, st: &'a mut Store, rt: &'a ResourceType) -> ops::Op<'a> {
    ops::Op {
        sim,
        st,
        rt,
        version: rt.preferred_version(),
    }
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
    let _ = op(sim, st, rt).commit_update(old, new, &opts(CM, Some("status")), false);
}

fn update_obj(
    sim: &Sim,
    st: &mut Store,
    rt: &ResourceType,
    old: &Value,
    new: Value,
    manager: &str,
) -> Option<Value> {
    op(sim, st, rt)
        .commit_update(old, new, &opts(manager, None), false)
        .ok()
}

fn delete_obj(sim: &Sim, st: &mut Store, rt: &ResourceType, ns: &str, name: &str, policy: &str) {
    let _ = op(sim, st, rt).delete(
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

/// An Event to record about an object: its type, reason and message, the component that
/// reports it and, for a container, its field path.
pub struct Note<'a> {
    pub etype: &'a str,
    pub reason: &'a str,
    pub message: &'a str,
    pub component: &'a str,
    pub field_path: Option<&'a str>,
}

impl<'a> Note<'a> {
    pub fn normal(component: &'a str, reason: &'a str, message: &'a str) -> Self {
        Note {
            etype: "Normal",
            reason,
            message,
            component,
            field_path: None,
        }
    }
}

/// Records (or aggregates) a core/v1 Event about `obj`.
pub fn record_event(sim: &Sim, reg: &Registry, st: &mut Store, obj: &Value, note: &Note) {
    let &Note {
        etype,
        reason,
        message,
        component,
        field_path,
    } = note;
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

/// A condition of an object's `status` by type, for the controllers' tests.
#[cfg(test)]
fn condition<'a>(status: &'a Value, ty: &str) -> Option<&'a Value> {
    status["conditions"].as_array()?.iter().find(|c| c["type"] == ty)
}
