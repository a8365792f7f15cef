//! DELETE of one object: preconditions, propagation policy, finalizers, a namespace's
//! Terminating phase.

use super::*;

#[derive(Debug, Clone, Default)]
pub struct DeleteOpts {
    pub dry_run: bool,
    pub propagation: Option<String>,
    pub precondition_uid: Option<String>,
    pub precondition_rv: Option<String>,
}

impl DeleteOpts {
    /// Reads DeleteOptions from a request body (if any) on top of query parameters.
    pub fn merge_body(&mut self, body: &[u8]) -> ApiResult<()> {
        if body.iter().all(u8::is_ascii_whitespace) {
            return Ok(());
        }
        let v: Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("error decoding DeleteOptions: {e}")))?;
        if let Some(p) = v.get("propagationPolicy").and_then(Value::as_str) {
            self.propagation = Some(p.to_string());
        }
        if v.get("orphanDependents") == Some(&json!(true)) && self.propagation.is_none() {
            self.propagation = Some("Orphan".into());
        }
        if let Some(d) = v.get("dryRun").and_then(Value::as_array)
            && d.iter().any(|x| x == "All")
        {
            self.dry_run = true;
        }
        if let Some(u) = v.pointer("/preconditions/uid").and_then(Value::as_str) {
            self.precondition_uid = Some(u.to_string());
        }
        if let Some(r) = v
            .pointer("/preconditions/resourceVersion")
            .and_then(Value::as_str)
        {
            self.precondition_rv = Some(r.to_string());
        }
        Ok(())
    }
}

fn success_status(rt: &ResourceType, name: &str, uid: &str) -> Value {
    let mut details = json!({"name": name, "kind": rt.plural, "uid": uid});
    if !rt.group.is_empty() {
        details["group"] = json!(rt.group);
    }
    json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success", "details": details})
}

/// The UID and resourceVersion preconditions of a delete.
fn check_preconditions(rt: &ResourceType, name: &str, old: &Value, opts: &DeleteOpts) -> ApiResult<()> {
    if let Some(uid) = &opts.precondition_uid
        && uid != meta_str(old, "uid")
    {
        return Err(ApiError::conflict_msg(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                meta_str(old, "uid")
            ),
        ));
    }
    if let Some(rv) = &opts.precondition_rv
        && rv != meta_str(old, "resourceVersion")
    {
        return Err(ApiError::conflict_msg(
            &rt.group,
            &rt.plural,
            name,
            &format!(
                "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
                meta_str(old, "resourceVersion")
            ),
        ));
    }
    Ok(())
}

/// The propagation policy a delete asks for, or the type's default.
fn propagation<'a>(rt: &ResourceType, opts: &'a DeleteOpts) -> ApiResult<&'a str> {
    match opts.propagation.as_deref() {
        None | Some("") => Ok(if rt.orphan_by_default {
            "Orphan"
        } else {
            "Background"
        }),
        Some(p @ ("Orphan" | "Background" | "Foreground")) => Ok(p),
        Some(other) => Err(ApiError::invalid(
            "meta.k8s.io",
            "DeleteOptions",
            "",
            vec![(
                "FieldValueNotSupported",
                "propagationPolicy".into(),
                format!(
                    "Unsupported value: \"{other}\": supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""
                ),
            )],
        )),
    }
}

impl Op<'_> {
    /// DELETE of one object. Returns the response body.
    pub fn delete(&mut self, ns: &str, name: &str, opts: &DeleteOpts) -> ApiResult<Value> {
        let (sim, rt, version) = (self.sim, self.rt, self.version);
        let st = &mut *self.st;
        let key = rt.key();
        let Some(old) = st.get(&key, ns, name).cloned() else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        st.gc_dirty = true;
        check_preconditions(rt, name, &old, opts)?;
        let policy = propagation(rt, opts)?;
        let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
        if is_ns && matches!(name, "default" | "kube-system" | "kube-public") {
            return Err(ApiError::forbidden(
                "",
                "namespaces",
                name,
                "this namespace may not be deleted",
            ));
        }
        if old.pointer("/metadata/deletionTimestamp").is_some() {
            return Ok(present(rt, version, old));
        }
        let mut new = old.clone();
        let mut finalizers: Vec<Value> = new
            .pointer("/metadata/finalizers")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default();
        let gc_finalizer = match policy {
            "Foreground" => Some("foregroundDeletion"),
            "Orphan" => Some("orphan"),
            _ => None,
        };
        if let Some(f) = gc_finalizer
            && !finalizers.iter().any(|x| x == f)
        {
            finalizers.push(json!(f));
        }
        if is_ns || !finalizers.is_empty() {
            new["metadata"]["deletionTimestamp"] = json!(now());
            new["metadata"]["deletionGracePeriodSeconds"] = json!(0);
            if !finalizers.is_empty() {
                new["metadata"]["finalizers"] = Value::Array(finalizers);
            }
            if is_ns {
                new["status"]["phase"] = json!("Terminating");
            }
            if opts.dry_run {
                return Ok(present(rt, version, new));
            }
            if is_ns {
                sim.kubelet
                    .lock()
                    .namespace_deleted
                    .insert(name.to_string(), std::time::Instant::now());
            }
            let stored = st.put(&key, new);
            after_write(sim, st, rt);
            return Ok(present(rt, version, stored));
        }
        if opts.dry_run {
            return Ok(if rt.group.is_empty() && rt.plural == "pods" {
                present(rt, version, old)
            } else {
                success_status(rt, name, meta_str(&old, "uid"))
            });
        }
        let gone = st.remove(&key, ns, name).unwrap_or(old);
        after_write(sim, st, rt);
        if rt.group.is_empty() && rt.plural == "pods" {
            return Ok(present(rt, version, gone));
        }
        Ok(success_status(rt, name, meta_str(&gone, "uid")))
    }
}
