//! Namespaces: an active one gets its `default` ServiceAccount and `kube-root-ca.crt`
//! ConfigMap; a Terminating one has its content deleted, reports what remains in its
//! conditions, and disappears once empty (and at least `namespace_delete_delay` after the
//! delete) unless a metadata finalizer holds it.

use super::*;

pub(super) fn namespaces(sim: &Sim, reg: &Registry, st: &mut Store, scope: &Scope) {
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
        let conditions = deletion_conditions(remaining, finalizers, &now());
        let Some(cur) = st.get("/namespaces", "", &name).cloned() else {
            continue;
        };
        if !same_conditions(
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

/// A Terminating namespace's conditions, as the namespace controller reports them: how many
/// objects remain, and which finalizers hold them.
fn deletion_conditions(remaining: usize, finalizers: HashSet<String>, t: &str) -> Vec<Value> {
    let cond = |ty: &str, status: bool, reason: &str, msg: &str| json!({"type": ty, "status": if status {"True"} else {"False"}, "lastTransitionTime": t, "reason": reason, "message": msg});
    vec![
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
    ]
}

/// Whether two condition lists say the same (type, status and message; not the times).
fn same_conditions(a: &Value, b: &Value) -> bool {
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
}

pub(super) fn ensure_namespace_defaults(sim: &Sim, reg: &Registry, st: &mut Store, ns: &str) {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conditions_name_what_remains_and_ignore_times() {
        let t = "2026-01-01T00:00:00Z";
        let done = deletion_conditions(0, HashSet::new(), t);
        assert_eq!(done.len(), 5);
        assert_eq!(done[3]["reason"], "ContentRemoved");
        assert_eq!(done[4]["status"], "False");
        let held = deletion_conditions(2, HashSet::from(["b/x".to_string(), "a/y".to_string()]), t);
        assert_eq!(held[3]["message"], "Some resources are remaining: 2 objects");
        assert_eq!(
            held[4]["message"],
            "Some content in the namespace has finalizers remaining: a/y, b/x"
        );
        let later = deletion_conditions(0, HashSet::new(), "2026-01-01T00:00:09Z");
        assert!(
            same_conditions(&json!(done), &json!(later)),
            "only the times differ"
        );
        assert!(!same_conditions(&json!(done), &json!(held)));
    }

    #[test]
    fn through_the_store_a_deleted_namespace_is_terminating_until_empty_then_gone() {
        let cfg = crate::SimConfig::default().namespace_delete_delay(Duration::ZERO);
        let sim = crate::Sim::new(cfg, "token".into(), None);
        let reg = sim.registry.read().clone();
        {
            let mut st = sim.store.lock();
            let ns = json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "on-x"}});
            ops::create_internal(&sim, &mut st, rt(&reg, "/namespaces"), ns, "test").expect("namespace");
            let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "on-x"}});
            ops::create_internal(&sim, &mut st, rt(&reg, "/configmaps"), cm, "test").expect("configmap");
        }
        reconcile(&sim);
        {
            // A live namespace gets its defaults and keeps what is in it.
            let st = sim.store.lock();
            assert!(st.get("/serviceaccounts", "on-x", "default").is_some());
            assert!(st.get("/configmaps", "on-x", "c").is_some());
        }
        {
            let mut st = sim.store.lock();
            let mut op = ops::Op {
                sim: &sim,
                st: &mut st,
                rt: rt(&reg, "/namespaces"),
                version: "v1",
            };
            op.delete("", "on-x", &DeleteOpts::default()).expect("deleted");
            let ns = st
                .get("/namespaces", "", "on-x")
                .expect("still there while not empty");
            assert_eq!(ns["status"]["phase"], "Terminating");
        }
        reconcile(&sim);
        reconcile(&sim);
        let st = sim.store.lock();
        assert!(
            st.get("/configmaps", "on-x", "c").is_none(),
            "its objects go first"
        );
        assert!(st.get("/namespaces", "", "on-x").is_none(), "then the namespace");
    }
}
