//! Garbage collector: deletes dependents whose owners are gone (or are being deleted in the
//! foreground), orphans those of an owner deleted with `orphan`, and then lifts the owner's
//! `foregroundDeletion` / `orphan` finalizer.

use super::*;

/// Every object by uid: (type key, namespace, name, finalizers).
type ByUid = HashMap<String, (String, String, String, Vec<String>)>;
/// Owner uid → its dependents (type key, namespace, name).
type Dependents = HashMap<String, Vec<(String, String, String)>>;

/// Who owns whom, from every object's `ownerReferences`.
fn ownership(reg: &Registry, st: &Store) -> (ByUid, Dependents) {
    let mut by_uid: ByUid = HashMap::new();
    let mut dependents: Dependents = HashMap::new();
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
    (by_uid, dependents)
}

pub(super) fn gc(sim: &Sim, reg: &Registry, st: &mut Store) {
    if !st.gc_dirty {
        return;
    }
    st.gc_dirty = false;
    let (by_uid, dependents) = ownership(reg, st);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn object(name: &str, uid: &str, owners: &[&str], finalizers: &[&str]) -> Value {
        let refs: Vec<Value> = owners
            .iter()
            .map(|o| json!({"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": o, "uid": o}))
            .collect();
        json!({"metadata": {"name": name, "namespace": "ns", "uid": uid,
            "ownerReferences": refs, "finalizers": finalizers}})
    }

    #[test]
    fn ownership_maps_owners_to_their_dependents() {
        let reg = Registry::new();
        let mut st = Store::new(16);
        st.put(
            "apps/replicasets",
            object("rs", "rs-uid", &[], &["foregroundDeletion"]),
        );
        st.put("/pods", object("a", "a-uid", &["rs-uid"], &[]));
        st.put("/pods", object("b", "b-uid", &["rs-uid", "gone-uid"], &[]));
        let (by_uid, dependents) = ownership(&reg, &st);
        assert_eq!(
            by_uid["rs-uid"],
            (
                "apps/replicasets".into(),
                "ns".into(),
                "rs".into(),
                vec!["foregroundDeletion".to_string()]
            )
        );
        let mut pods = dependents["rs-uid"].clone();
        pods.sort();
        assert_eq!(
            pods,
            [
                ("/pods".to_string(), "ns".to_string(), "a".to_string()),
                ("/pods".to_string(), "ns".to_string(), "b".to_string())
            ]
        );
        // An owner that does not exist still has its dependents listed: the collector deletes them.
        assert_eq!(dependents["gone-uid"].len(), 1);
        assert!(!by_uid.contains_key("gone-uid"));
    }

    #[test]
    fn through_the_store_dependents_of_a_deleted_owner_go_unless_another_owner_lives() {
        let sim = crate::Sim::new(crate::SimConfig::default(), "token".into(), None);
        let reg = sim.registry.read().clone();
        let cm = |name: &str, owners: &[(&str, &str)]| {
            let refs: Vec<Value> = owners
                .iter()
                .map(|(n, uid)| json!({"apiVersion": "v1", "kind": "ConfigMap", "name": n, "uid": uid}))
                .collect();
            json!({"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": name, "namespace": "default", "ownerReferences": refs}})
        };
        let uid_of = |st: &Store, name: &str| {
            meta_str(st.get("/configmaps", "default", name).unwrap(), "uid").to_string()
        };
        {
            let mut st = sim.store.lock();
            let crt = rt(&reg, "/configmaps");
            for name in ["parent", "keeper"] {
                ops::create_internal(&sim, &mut st, crt, cm(name, &[]), "test").expect("owner");
            }
            let (parent, keeper) = (uid_of(&st, "parent"), uid_of(&st, "keeper"));
            ops::create_internal(&sim, &mut st, crt, cm("child", &[("parent", &parent)]), "test")
                .expect("child");
            let both = cm("shared", &[("parent", &parent), ("keeper", &keeper)]);
            ops::create_internal(&sim, &mut st, crt, both, "test").expect("shared");
            st.remove("/configmaps", "default", "parent");
            st.gc_dirty = true;
        }
        reconcile(&sim);
        let st = sim.store.lock();
        assert!(
            st.get("/configmaps", "default", "child").is_none(),
            "its only owner is gone"
        );
        assert!(
            st.get("/configmaps", "default", "shared").is_some(),
            "another owner is alive"
        );
        assert!(st.get("/configmaps", "default", "keeper").is_some());
    }
}
