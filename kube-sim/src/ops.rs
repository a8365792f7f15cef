//! The verbs: create, update, patch, delete, list — with the apiserver's semantics. The writing
//! verbs are methods of an `Op` (the store, the type and version written); the API handlers
//! and the simulated controllers both write through them.

use base64::Engine;
use serde_json::{Value, json};

use crate::Sim;
use crate::defaults::{self, new_uid, now, random_suffix};
use crate::errors::{ApiError, ApiResult};
use crate::patch::{self, ApplyRequest, Scope, Writer};
use crate::registry::ResourceType;
use crate::selectors::{FieldSelector, LabelSelector};
use crate::store::Store;
use crate::validate;

mod delete;

pub use delete::DeleteOpts;

/// One operation's context: the simulation, its store (locked by the caller), the resource
/// type and the version it is served at. The verbs are its methods.
pub struct Op<'a> {
    pub sim: &'a Sim,
    pub st: &'a mut Store,
    pub rt: &'a ResourceType,
    pub version: &'a str,
}

#[derive(Debug, Clone, Default)]
pub struct WriteOpts {
    pub dry_run: bool,
    pub manager: String,
    /// `fieldManager` was given explicitly (required for apply).
    pub manager_explicit: bool,
    pub force: bool,
    pub subresource: Option<String>,
}

pub fn meta_str<'a>(obj: &'a Value, field: &str) -> &'a str {
    obj.get("metadata")
        .and_then(|m| m.get(field))
        .and_then(Value::as_str)
        .unwrap_or("")
}

fn scope(rt: &ResourceType, sub: Option<&str>) -> Scope {
    if sub == Some("status") {
        Scope::Status
    } else {
        Scope::Main {
            exclude_status: rt.status,
        }
    }
}

/// The object as served at `version`: apiVersion/kind set.
pub fn present(rt: &ResourceType, version: &str, mut obj: Value) -> Value {
    if let Some(m) = obj.as_object_mut() {
        let meta = m.remove("metadata");
        let mut out = serde_json::Map::new();
        out.insert("kind".into(), json!(rt.kind));
        out.insert("apiVersion".into(), json!(rt.api_version(version)));
        if let Some(meta) = meta {
            out.insert("metadata".into(), meta);
        }
        for (k, v) in std::mem::take(m) {
            if k != "kind" && k != "apiVersion" {
                out.insert(k, v);
            }
        }
        return Value::Object(out);
    }
    obj
}

fn check_type(rt: &ResourceType, version: &str, obj: &Value) -> ApiResult<()> {
    if !obj.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request is not a JSON object",
        ));
    }
    if let Some(av) = obj.get("apiVersion").and_then(Value::as_str)
        && !av.is_empty()
        && av != rt.api_version(version)
    {
        return Err(ApiError::bad_request(format!(
            "the API version in the data ({av}) does not match the expected API version ({})",
            rt.api_version(version)
        )));
    }
    if let Some(kind) = obj.get("kind").and_then(Value::as_str)
        && !kind.is_empty()
        && kind != rt.kind
    {
        return Err(ApiError::bad_request(format!(
            "the kind in the data ({kind}) does not match the expected kind ({})",
            rt.kind
        )));
    }
    if obj
        .get("metadata")
        .is_some_and(|m| !m.is_object() && !m.is_null())
    {
        return Err(ApiError::bad_request("metadata must be an object"));
    }
    Ok(())
}

/// 404 when the namespace is missing; 403 when it is terminating and we are creating.
pub fn check_namespace(st: &Store, rt: &ResourceType, ns: &str, name: &str, creating: bool) -> ApiResult<()> {
    if !rt.namespaced {
        return Ok(());
    }
    match st.get("/namespaces", "", ns) {
        None => Err(ApiError::not_found("", "namespaces", ns)),
        Some(n) if creating && n.pointer("/metadata/deletionTimestamp").is_some() => {
            Err(ApiError::forbidden(
                &rt.group,
                &rt.plural,
                name,
                &format!("unable to create new content in namespace {ns} because it is being terminated"),
            )
            .with_details(json!({"name": name, "group": rt.group, "kind": rt.plural}))
            .strip_empty_group())
        }
        Some(_) => Ok(()),
    }
}

impl ApiError {
    fn strip_empty_group(mut self) -> Self {
        if let Some(d) = self.details.as_mut().and_then(Value::as_object_mut)
            && d.get("group") == Some(&json!(""))
        {
            d.remove("group");
        }
        self
    }
}

fn refresh_crds(sim: &Sim, st: &Store) {
    let crds: Vec<Value> = st
        .list("apiextensions.k8s.io/customresourcedefinitions", None)
        .cloned()
        .collect();
    sim.registry.write().set_crds(crds.iter());
}

fn after_write(sim: &Sim, st: &Store, rt: &ResourceType) {
    if rt.group == "apiextensions.k8s.io" && rt.plural == "customresourcedefinitions" {
        refresh_crds(sim, st);
    }
    sim.notify.notify_one();
}

/// `obj` as an object of this type to be created in `ns` (the request's namespace): typed,
/// in that namespace (or none for a cluster-scoped type), named from `generateName` if unnamed.
fn placed(rt: &ResourceType, version: &str, ns: Option<&str>, mut obj: Value) -> ApiResult<Value> {
    check_type(rt, version, &obj)?;
    obj["apiVersion"] = json!(rt.api_version(version));
    obj["kind"] = json!(rt.kind);
    if !obj.get("metadata").is_some_and(Value::is_object) {
        obj["metadata"] = json!({});
    }
    if rt.namespaced {
        let ns = ns.unwrap_or("");
        let body_ns = meta_str(&obj, "namespace");
        if !body_ns.is_empty() && body_ns != ns {
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        obj["metadata"]["namespace"] = json!(ns);
    } else if let Some(m) = obj["metadata"].as_object_mut() {
        m.remove("namespace");
    }
    if meta_str(&obj, "name").is_empty() {
        let mut base = meta_str(&obj, "generateName").to_string();
        if !base.is_empty() {
            base.truncate(63 - 5);
            obj["metadata"]["name"] = json!(format!("{base}{}", random_suffix(5)));
        }
    }
    Ok(obj)
}

/// The metadata the server sets on a new object (a client's values for them dropped).
fn set_creation_metadata(rt: &ResourceType, obj: &mut Value) {
    let meta = obj["metadata"].as_object_mut().expect("metadata is an object");
    for f in [
        "uid",
        "resourceVersion",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "managedFields",
        "selfLink",
        "generation",
    ] {
        meta.remove(f);
    }
    meta.insert("uid".into(), json!(new_uid()));
    meta.insert("creationTimestamp".into(), json!(now()));
    if rt.generation {
        meta.insert("generation".into(), json!(1));
    }
    if meta.get("labels").is_some_and(Value::is_null) {
        meta.remove("labels");
    }
}

impl Op<'_> {
    /// POST: creates `obj`. `managed` is the managedFields to record instead of an Update entry (apply).
    pub fn create(
        &mut self,
        ns: Option<&str>,
        obj: Value,
        opts: &WriteOpts,
        managed: Option<Value>,
    ) -> ApiResult<Value> {
        let (sim, rt, version) = (self.sim, self.rt, self.version);
        let st = &mut *self.st;
        let mut obj = placed(rt, version, ns, obj)?;
        let name = meta_str(&obj, "name").to_string();
        validate::validate_object(rt, &obj)?;
        let ns = meta_str(&obj, "namespace").to_string();
        check_namespace(st, rt, &ns, &name, true)?;
        if st.get(&rt.key(), &ns, &name).is_some() {
            return Err(ApiError::already_exists(&rt.group, &rt.plural, &name));
        }
        if !meta_str(&obj, "resourceVersion").is_empty() {
            return Err(ApiError::internal(
                "resourceVersion should not be set on objects to be created",
            ));
        }
        set_creation_metadata(rt, &mut obj);
        defaults::prepare_create(sim, rt, &mut obj);
        match managed {
            Some(m) => obj["metadata"]["managedFields"] = m,
            None => {
                let t = now();
                let av = rt.api_version(version);
                patch::record_update(
                    None,
                    &mut obj,
                    &Writer {
                        manager: &opts.manager,
                        api_version: &av,
                        time: &t,
                        subresource: None,
                        builtin: !rt.custom,
                        scope: scope(rt, None),
                    },
                );
            }
        }
        if opts.dry_run {
            return Ok(present(rt, version, obj));
        }
        let stored = st.put(&rt.key(), obj);
        after_write(sim, st, rt);
        Ok(present(rt, version, stored))
    }
}

/// Creation by the simulated control plane (bootstrap, controllers).
pub fn create_internal(
    sim: &Sim,
    st: &mut Store,
    rt: &ResourceType,
    obj: Value,
    manager: &str,
) -> ApiResult<Value> {
    let ns = meta_str(&obj, "namespace").to_string();
    let version = rt.preferred_version().to_string();
    let mut op = Op {
        sim,
        st,
        rt,
        version: &version,
    };
    op.create(
        Some(&ns),
        obj,
        &WriteOpts {
            manager: manager.to_string(),
            ..Default::default()
        },
        None,
    )
}

fn without_volatile(v: &Value) -> Value {
    let mut v = v.clone();
    if let Some(m) = v.get_mut("metadata").and_then(Value::as_object_mut) {
        m.remove("resourceVersion");
        m.remove("managedFields");
    }
    v
}

fn spec_part(v: &Value) -> Value {
    match v.as_object() {
        Some(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "metadata" | "status" | "apiVersion" | "kind"))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        None => Value::Null,
    }
}

/// An update of the status subresource changes only the status; an update of the object
/// keeps the stored status (for kinds with a status subresource).
fn keep_status(rt: &ResourceType, sub: Option<&str>, old: &Value, new: &mut Value) {
    if sub == Some("status") {
        let status = new.get("status").cloned();
        *new = old.clone();
        match status {
            Some(s) if !s.is_null() => new["status"] = s,
            _ => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    } else if rt.status {
        match old.get("status") {
            Some(s) => new["status"] = s.clone(),
            None => {
                if let Some(m) = new.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
}

/// The server-owned metadata of `old` kept on `new` (what a client may not change), and
/// the type's apiVersion and kind.
fn keep_server_fields(rt: &ResourceType, version: &str, old: &Value, new: &mut Value) {
    if !new.get("metadata").is_some_and(Value::is_object) {
        new["metadata"] = json!({});
    }
    for f in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "name",
        "namespace",
        "generation",
    ] {
        match old["metadata"].get(f) {
            Some(v) => new["metadata"][f] = v.clone(),
            None => {
                if let Some(m) = new["metadata"].as_object_mut() {
                    m.remove(f);
                }
            }
        }
    }
    new["apiVersion"] = json!(rt.api_version(version));
    new["kind"] = json!(rt.kind);
    if new["metadata"].get("labels").is_some_and(Value::is_null) {
        new["metadata"].as_object_mut().map(|m| m.remove("labels"));
    }
}

/// Whether `new` is being deleted with no finalizer left (for a namespace, neither its own
/// nor the `spec.finalizers` of its content): then the write removes it.
fn deletion_finished(rt: &ResourceType, new: &Value) -> bool {
    let none = |p: &str| {
        new.pointer(p)
            .and_then(Value::as_array)
            .is_none_or(|f| f.is_empty())
    };
    let is_ns = rt.group.is_empty() && rt.plural == "namespaces";
    new.pointer("/metadata/deletionTimestamp").is_some()
        && none("/metadata/finalizers")
        && (!is_ns || none("/spec/finalizers"))
}

impl Op<'_> {
    /// Finishes a write to an existing object: keeps server-owned metadata, applies the status
    /// subresource rules, bumps generation, records managedFields, skips no-ops, and completes a
    /// pending deletion once the last finalizer is gone.
    pub fn commit_update(
        &mut self,
        old: &Value,
        mut new: Value,
        opts: &WriteOpts,
        applied_managed: bool,
    ) -> ApiResult<Value> {
        let (sim, rt, version) = (self.sim, self.rt, self.version);
        let st = &mut *self.st;
        let sub = opts.subresource.as_deref();
        keep_status(rt, sub, old, &mut new);
        keep_server_fields(rt, version, old, &mut new);
        if sub.is_none() {
            validate::validate_object(rt, &new)?;
            defaults::prepare_update(sim, rt, old, &mut new);
        }
        if rt.generation && spec_part(old) != spec_part(&new) {
            let g = old
                .pointer("/metadata/generation")
                .and_then(Value::as_i64)
                .unwrap_or(0);
            new["metadata"]["generation"] = json!(g + 1);
        }
        if !applied_managed {
            if let Some(mf) = old.pointer("/metadata/managedFields") {
                new["metadata"]["managedFields"] = mf.clone();
            }
            let t = now();
            let av = rt.api_version(version);
            patch::record_update(
                Some(old),
                &mut new,
                &Writer {
                    manager: &opts.manager,
                    api_version: &av,
                    time: &t,
                    subresource: sub,
                    builtin: !rt.custom,
                    scope: scope(rt, sub),
                },
            );
        }
        let key = rt.key();
        if deletion_finished(rt, &new) {
            if opts.dry_run {
                return Ok(present(rt, version, new));
            }
            let ns = meta_str(old, "namespace").to_string();
            let name = meta_str(old, "name").to_string();
            st.put(&key, new);
            let gone = st.remove(&key, &ns, &name).unwrap_or_default();
            after_write(sim, st, rt);
            return Ok(present(rt, version, gone));
        }
        if without_volatile(old) == without_volatile(&new) {
            return Ok(present(rt, version, old.clone()));
        }
        if opts.dry_run {
            return Ok(present(rt, version, new));
        }
        let stored = st.put(&key, new);
        after_write(sim, st, rt);
        Ok(present(rt, version, stored))
    }

    /// PUT.
    pub fn update(&mut self, ns: &str, name: &str, mut obj: Value, opts: &WriteOpts) -> ApiResult<Value> {
        let (rt, version) = (self.rt, self.version);
        check_type(rt, version, &obj)?;
        if !obj.get("metadata").is_some_and(Value::is_object) {
            obj["metadata"] = json!({});
        }
        let body_name = meta_str(&obj, "name");
        if body_name.is_empty() {
            obj["metadata"]["name"] = json!(name);
        } else if body_name != name {
            return Err(ApiError::bad_request(format!(
                "the name of the object ({body_name}) does not match the name on the URL ({name})"
            )));
        }
        if rt.namespaced {
            let body_ns = meta_str(&obj, "namespace");
            if !body_ns.is_empty() && body_ns != ns {
                return Err(ApiError::bad_request(
                    "the namespace of the provided object does not match the namespace sent on the request",
                ));
            }
        }
        check_namespace(self.st, rt, ns, name, false)?;
        let Some(old) = self.st.get(&rt.key(), ns, name).cloned() else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let rv = meta_str(&obj, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        self.commit_update(&old, obj, opts, false)
    }
}

fn parse_json(body: &[u8]) -> ApiResult<Value> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))
}

pub fn parse_yaml_or_json(body: &[u8]) -> ApiResult<Value> {
    if let Ok(v) = serde_json::from_slice::<Value>(body) {
        return Ok(v);
    }
    serde_norway::from_slice::<Value>(body)
        .map_err(|e| ApiError::bad_request(format!("error decoding YAML: {e}")))
}

pub const PATCH_TYPES: &[&str] = &[
    "application/json-patch+json",
    "application/merge-patch+json",
    "application/apply-patch+yaml",
    "application/strategic-merge-patch+json",
];

/// The name in a request body must be the one in the URL.
fn check_name(body_name: &str, name: &str) -> ApiResult<()> {
    if body_name != name {
        return Err(ApiError::bad_request(format!(
            "the name of the object ({body_name}) does not match the name on the URL ({name})"
        )));
    }
    Ok(())
}

/// The 409 of a server-side apply that would take fields another manager owns.
fn apply_conflict(c: Vec<patch::ApplyConflict>) -> ApiError {
    ApiError::new(409, "Conflict", patch::conflict_message(&c)).with_details(json!({
        "causes": c.iter().map(|c| json!({
            "reason": "FieldManagerConflict",
            "message": format!("conflict with \"{}\" using {}", c.manager, c.api_version),
            "field": c.path,
        })).collect::<Vec<_>>()
    }))
}

/// The applied configuration of a server-side apply, checked: an object of this type with
/// apiVersion and kind set, named as in the URL (or not named).
fn applied_config(rt: &ResourceType, version: &str, name: &str, body: &[u8]) -> ApiResult<Value> {
    let applied = parse_yaml_or_json(body)?;
    check_type(rt, version, &applied)?;
    let unset = |k: &str| {
        applied
            .get(k)
            .is_none_or(|v| v.as_str().is_none_or(str::is_empty))
    };
    if unset("apiVersion") {
        return Err(ApiError::bad_request("apiVersion must be set"));
    }
    if unset("kind") {
        return Err(ApiError::bad_request("kind must be set"));
    }
    let body_name = meta_str(&applied, "name");
    if !body_name.is_empty() {
        check_name(body_name, name)?;
    }
    Ok(applied)
}

/// `doc` (the stored object as served) with a JSON, merge or strategic merge patch applied.
fn patched(mut doc: Value, content_type: &str, body: &[u8]) -> ApiResult<Value> {
    match content_type {
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| {
                ApiError::new(
                    422,
                    "Invalid",
                    format!("the server rejected our request due to an error in our request: {e}"),
                )
            })?;
        }
        "application/merge-patch+json" => {
            let p = parse_json(body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a merge patch must be a JSON object",
                ));
            }
            json_patch::merge(&mut doc, &p);
        }
        _ => {
            let p = parse_json(body)?;
            if !p.is_object() {
                return Err(ApiError::bad_request(
                    "error decoding patch: a strategic merge patch must be a JSON object",
                ));
            }
            doc = patch::strategic_merge(&doc, &p, true).map_err(ApiError::bad_request)?;
        }
    }
    if !doc.is_object() {
        return Err(ApiError::bad_request("the patched object is not a JSON object"));
    }
    Ok(doc)
}

impl Op<'_> {
    /// PATCH with any of the four patch types; whether it created the object (apply may).
    pub fn patch(
        &mut self,
        ns: &str,
        name: &str,
        content_type: &str,
        body: &[u8],
        opts: &WriteOpts,
    ) -> ApiResult<(Value, bool)> {
        let rt = self.rt;
        let ct = content_type.split(';').next().unwrap_or("").trim();
        let accepted: &[&str] = if rt.custom { &PATCH_TYPES[..3] } else { PATCH_TYPES };
        if !accepted.contains(&ct) {
            return Err(ApiError::unsupported_media_type(ct, accepted));
        }
        let existing = self.st.get(&rt.key(), ns, name).cloned();
        if ct == "application/apply-patch+yaml" {
            return self.apply(existing, ns, name, body, opts);
        }
        let Some(old) = existing else {
            return Err(ApiError::not_found(&rt.group, &rt.plural, name));
        };
        let doc = patched(present(rt, self.version, old.clone()), ct, body)?;
        check_type(rt, self.version, &doc)?;
        let rv = meta_str(&doc, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        check_name(meta_str(&doc, "name"), name)?;
        let r = self.commit_update(&old, doc, opts, false)?;
        Ok((r, false))
    }

    /// Server-side apply: creates the object if missing, else merges the applied
    /// configuration by field ownership.
    fn apply(
        &mut self,
        existing: Option<Value>,
        ns: &str,
        name: &str,
        body: &[u8],
        opts: &WriteOpts,
    ) -> ApiResult<(Value, bool)> {
        let rt = self.rt;
        if opts.manager.is_empty() || !opts.manager_explicit {
            return Err(ApiError::invalid(
                "meta.k8s.io",
                "PatchOptions",
                "",
                vec![(
                    "FieldValueRequired",
                    "fieldManager".into(),
                    "Required value: is required for apply patch".into(),
                )],
            ));
        }
        let mut applied = applied_config(rt, self.version, name, body)?;
        let t = now();
        let av = rt.api_version(self.version);
        let sub = opts.subresource.as_deref();
        let req = ApplyRequest {
            manager: &opts.manager,
            api_version: &av,
            time: &t,
            force: opts.force,
            builtin: !rt.custom,
            scope: scope(rt, sub),
        };
        let Some(old) = existing else {
            if sub.is_some() {
                return Err(ApiError::not_found(&rt.group, &rt.plural, name));
            }
            applied["metadata"]["name"] = json!(name);
            let mut obj = patch::server_side_apply(None, &applied, &req).map_err(apply_conflict)?;
            let managed = obj.pointer("/metadata/managedFields").cloned();
            if let Some(m) = obj["metadata"].as_object_mut() {
                m.remove("managedFields");
            }
            let ns = if rt.namespaced { Some(ns) } else { None };
            return Ok((self.create(ns, obj, opts, managed)?, true));
        };
        let rv = meta_str(&applied, "resourceVersion");
        if !rv.is_empty() && rv != meta_str(&old, "resourceVersion") {
            return Err(ApiError::conflict(&rt.group, &rt.plural, name));
        }
        if let Some(m) = applied["metadata"].as_object_mut() {
            m.remove("resourceVersion");
        }
        let merged = patch::server_side_apply(Some(&old), &applied, &req).map_err(apply_conflict)?;
        Ok((self.commit_update(&old, merged, opts, true)?, false))
    }
}

#[derive(Debug, Clone, Default)]
pub struct ListOpts {
    pub label_selector: Option<String>,
    pub field_selector: Option<String>,
    pub limit: Option<usize>,
    pub continue_token: Option<String>,
}

pub struct Filter {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Filter {
    pub fn new(rt: &ResourceType, labels: Option<&str>, fields: Option<&str>) -> ApiResult<Self> {
        let labels = LabelSelector::parse(labels.unwrap_or("")).map_err(ApiError::bad_request)?;
        let fields = FieldSelector::parse(fields.unwrap_or(""), &rt.key()).map_err(ApiError::bad_request)?;
        Ok(Filter { labels, fields })
    }
    pub fn matches(&self, obj: &Value) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

fn encode_continue(rv: u64, ns: &str, name: &str) -> String {
    base64::engine::general_purpose::STANDARD
        .encode(json!({"v": "meta.k8s.io/v1", "rv": rv, "start": [ns, name]}).to_string())
}

fn decode_continue(token: &str) -> ApiResult<(u64, String, String)> {
    let bad = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(token)
        .map_err(|_| bad())?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|_| bad())?;
    let rv = v.get("rv").and_then(Value::as_u64).ok_or_else(bad)?;
    let ns = v.pointer("/start/0").and_then(Value::as_str).ok_or_else(bad)?;
    let name = v.pointer("/start/1").and_then(Value::as_str).ok_or_else(bad)?;
    Ok((rv, ns.to_string(), name.to_string()))
}

/// LIST (one namespace, or all when `ns` is None).
pub fn list(
    st: &Store,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    opts: &ListOpts,
) -> ApiResult<Value> {
    let filter = Filter::new(rt, opts.label_selector.as_deref(), opts.field_selector.as_deref())?;
    let start = match &opts.continue_token {
        Some(t) if !t.is_empty() => Some(decode_continue(t)?),
        _ => None,
    };
    let mut items = vec![];
    let mut remaining = 0usize;
    let mut next: Option<(String, String)> = None;
    let limit = opts.limit.filter(|l| *l > 0);
    let key = rt.key();
    let objects = match &start {
        Some((_, sns, sname)) => st.list_after(&key, ns, (sns, sname)),
        None => st.list(&key, ns),
    };
    for obj in objects {
        if !filter.matches(obj) {
            continue;
        }
        if limit.is_some_and(|l| items.len() >= l) {
            remaining += 1;
            continue;
        }
        let mut item = present(rt, version, obj.clone());
        if !rt.custom
            && let Some(m) = item.as_object_mut()
        {
            m.remove("kind");
            m.remove("apiVersion");
        }
        if limit.is_some_and(|l| items.len() + 1 == l) {
            next = Some((
                meta_str(obj, "namespace").to_string(),
                meta_str(obj, "name").to_string(),
            ));
        }
        items.push(item);
    }
    let rv = start.as_ref().map(|(rv, _, _)| *rv).unwrap_or(st.rv);
    let mut meta = json!({"resourceVersion": rv.to_string()});
    if remaining > 0
        && let Some((ns, name)) = next
    {
        meta["continue"] = json!(encode_continue(rv, &ns, &name));
        if filter.labels.is_empty() && filter.fields.is_empty() {
            meta["remainingItemCount"] = json!(remaining);
        }
    }
    Ok(json!({
        "kind": rt.list_kind,
        "apiVersion": rt.api_version(version),
        "metadata": meta,
        "items": items,
    }))
}
