//! PATCH flavours: strategic merge patch (for built-in types) and server-side apply with
//! managedFields bookkeeping. JSON merge patch and JSON patch use the `json-patch` crate.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

/// Field path as in fieldsV1: elements "f:name", "k:{...}", "v:...", ".".
pub type FieldPath = Vec<String>;
pub type FieldSet = BTreeSet<FieldPath>;

/// Strategic-merge / SSA merge key of a list field, from the built-in types' patch metadata.
/// `names` are the field names on the way down (without list item markers).
pub fn merge_key(names: &[String], field: &str, ssa: bool) -> Option<&'static [&'static str]> {
    let in_container = names
        .last()
        .is_some_and(|p| p == "containers" || p == "initContainers" || p == "ephemeralContainers");
    Some(match field {
        "containers" | "initContainers" | "ephemeralContainers" => &["name"],
        "ports" if in_container => {
            if ssa {
                &["containerPort", "protocol"]
            } else {
                &["containerPort"]
            }
        }
        "ports" => {
            if ssa {
                &["port", "protocol"]
            } else {
                &["port"]
            }
        }
        "env" | "volumes" | "imagePullSecrets" | "resourceClaims" => &["name"],
        "volumeMounts" => &["mountPath"],
        "volumeDevices" => &["devicePath"],
        "hostAliases" => &["ip"],
        "conditions" => &["type"],
        "ownerReferences" => &["uid"],
        "topologySpreadConstraints" => {
            if ssa {
                &["topologyKey", "whenUnsatisfiable"]
            } else {
                &["topologyKey"]
            }
        }
        _ => return None,
    })
}

fn primitive_merge_list(field: &str) -> bool {
    field == "finalizers"
}

fn item_matches(item: &Value, other: &Value, key: &[&str], ssa: bool) -> bool {
    key.iter().all(|k| {
        let a = item.get(*k);
        let b = other.get(*k);
        if ssa && *k == "protocol" {
            a.and_then(Value::as_str).unwrap_or("TCP") == b.and_then(Value::as_str).unwrap_or("TCP")
        } else {
            a == b
        }
    })
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(
            a.iter()
                .filter(|i| i.get("$patch").is_none())
                .map(strip_directives)
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Applies a strategic merge patch. `builtin` enables list merge keys.
pub fn strategic_merge(orig: &Value, patch: &Value, builtin: bool) -> Result<Value, String> {
    let mut names = vec![];
    Ok(smp(orig, patch, &mut names, builtin)?.unwrap_or(Value::Object(Map::new())))
}

fn smp(orig: &Value, patch: &Value, names: &mut Vec<String>, builtin: bool) -> Result<Option<Value>, String> {
    let Some(pm) = patch.as_object() else {
        return Ok(Some(patch.clone()));
    };
    match pm.get("$patch").and_then(Value::as_str) {
        Some("replace") => return Ok(Some(strip_directives(patch))),
        Some("delete") => return Ok(None),
        Some("merge") | None => {}
        Some(other) => return Err(format!("Unknown patch type: {other}")),
    }
    let mut out = orig.as_object().cloned().unwrap_or_default();
    for (k, pv) in pm {
        if k == "$patch" || k == "$retainKeys" || k.starts_with("$setElementOrder/") {
            continue;
        }
        if let Some(field) = k.strip_prefix("$deleteFromPrimitiveList/") {
            if let (Some(Value::Array(list)), Some(del)) = (out.get_mut(field), pv.as_array()) {
                list.retain(|x| !del.contains(x));
            }
            continue;
        }
        if k.starts_with('$') {
            continue;
        }
        match pv {
            Value::Null => {
                out.remove(k);
            }
            Value::Object(_) => {
                names.push(k.clone());
                let r = smp(out.get(k).unwrap_or(&Value::Null), pv, names, builtin);
                names.pop();
                match r? {
                    Some(v) => {
                        out.insert(k.clone(), v);
                    }
                    None => {
                        out.remove(k);
                    }
                }
            }
            Value::Array(items) => {
                let key = if builtin { merge_key(names, k, false) } else { None };
                let replace_all = items
                    .iter()
                    .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
                if replace_all {
                    out.insert(k.clone(), strip_directives(pv));
                } else if let Some(key) = key {
                    let mut list: Vec<Value> =
                        out.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
                    names.push(k.clone());
                    for item in items {
                        if !item.is_object() {
                            continue;
                        }
                        let pos = list.iter().position(|o| item_matches(o, item, key, false));
                        if item.get("$patch").and_then(Value::as_str) == Some("delete") {
                            if let Some(p) = pos {
                                list.remove(p);
                            }
                            continue;
                        }
                        match pos {
                            Some(p) => {
                                if let Some(v) = smp(&list[p], item, names, builtin)? {
                                    list[p] = v;
                                } else {
                                    list.remove(p);
                                }
                            }
                            None => list.push(strip_directives(item)),
                        }
                    }
                    names.pop();
                    // $setElementOrder gives the final order of the patched keys.
                    if let Some(order) = pm.get(&format!("$setElementOrder/{k}")).and_then(Value::as_array) {
                        let rank = |v: &Value| {
                            order
                                .iter()
                                .position(|o| item_matches(v, o, key, false))
                                .unwrap_or(usize::MAX)
                        };
                        let mut indexed: Vec<(usize, usize, Value)> = list
                            .into_iter()
                            .enumerate()
                            .map(|(i, v)| (rank(&v), i, v))
                            .collect();
                        indexed.sort_by_key(|(r, i, _)| (*r, *i));
                        list = indexed.into_iter().map(|(_, _, v)| v).collect();
                    }
                    out.insert(k.clone(), Value::Array(list));
                } else if builtin && primitive_merge_list(k) {
                    let mut list: Vec<Value> =
                        out.get(k).and_then(Value::as_array).cloned().unwrap_or_default();
                    for i in items {
                        if !list.contains(i) {
                            list.push(i.clone());
                        }
                    }
                    out.insert(k.clone(), Value::Array(list));
                } else {
                    out.insert(k.clone(), strip_directives(pv));
                }
            }
            other => {
                out.insert(k.clone(), other.clone());
            }
        }
    }
    if let Some(retain) = pm.get("$retainKeys").and_then(Value::as_array) {
        let keep: BTreeSet<&str> = retain.iter().filter_map(Value::as_str).collect();
        out.retain(|k, _| keep.contains(k.as_str()));
    }
    Ok(Some(Value::Object(out)))
}

// ---------------------------------------------------------------------------------------------
// Field sets (managedFields)

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Scope {
    /// The main resource: everything but server-owned metadata (and status, if `exclude_status`).
    Main { exclude_status: bool },
    /// The status subresource: only `.status`.
    Status,
}

const SERVER_META: &[&str] = &[
    "name",
    "namespace",
    "uid",
    "resourceVersion",
    "generation",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "managedFields",
    "selfLink",
];

/// Flattens an object into leaf paths and their values.
pub fn flatten(obj: &Value, scope: Scope, builtin: bool) -> BTreeMap<FieldPath, Value> {
    let mut out = BTreeMap::new();
    let Some(m) = obj.as_object() else {
        return out;
    };
    let mut path = vec![];
    let mut names = vec![];
    for (k, v) in m {
        if k == "apiVersion" || k == "kind" {
            continue;
        }
        let take = match scope {
            Scope::Main { exclude_status } => !(exclude_status && k == "status"),
            Scope::Status => k == "status",
        };
        if !take {
            continue;
        }
        if k == "metadata" {
            let Some(meta) = v.as_object() else { continue };
            path.push("f:metadata".to_string());
            names.push("metadata".to_string());
            for (mk, mv) in meta {
                if SERVER_META.contains(&mk.as_str()) {
                    continue;
                }
                path.push(format!("f:{mk}"));
                flatten_into(mv, mk, &mut path, &mut names, &mut out, builtin);
                path.pop();
            }
            names.pop();
            path.pop();
            continue;
        }
        path.push(format!("f:{k}"));
        flatten_into(v, k, &mut path, &mut names, &mut out, builtin);
        path.pop();
    }
    out
}

fn key_string(item: &Value, key: &[&str]) -> String {
    let mut m = Map::new();
    for k in key {
        match item.get(*k) {
            Some(v) => {
                m.insert(k.to_string(), v.clone());
            }
            None if *k == "protocol" => {
                m.insert(k.to_string(), json!("TCP"));
            }
            None => {}
        }
    }
    format!("k:{}", Value::Object(m))
}

fn flatten_into(
    v: &Value,
    field: &str,
    path: &mut FieldPath,
    names: &mut Vec<String>,
    out: &mut BTreeMap<FieldPath, Value>,
    builtin: bool,
) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            names.push(field.to_string());
            for (k, child) in m {
                path.push(format!("f:{k}"));
                flatten_into(child, k, path, names, out, builtin);
                path.pop();
            }
            names.pop();
        }
        Value::Array(items) if !items.is_empty() => {
            let key = merge_key(names, field, true).filter(|_| builtin || field == "ownerReferences");
            if let Some(key) = key.filter(|_| items.iter().all(Value::is_object)) {
                names.push(field.to_string());
                for item in items {
                    path.push(key_string(item, key));
                    path.push(".".to_string());
                    out.insert(path.clone(), Value::Null);
                    path.pop();
                    if let Some(im) = item.as_object() {
                        for (k, child) in im {
                            path.push(format!("f:{k}"));
                            flatten_into(child, k, path, names, out, builtin);
                            path.pop();
                        }
                    }
                    path.pop();
                }
                names.pop();
            } else if field == "finalizers" && items.iter().all(Value::is_string) {
                for item in items {
                    path.push(format!("v:{item}"));
                    out.insert(path.clone(), Value::Null);
                    path.pop();
                }
            } else {
                out.insert(path.clone(), v.clone());
            }
        }
        other => {
            out.insert(path.clone(), other.clone());
        }
    }
}

/// Renders a field set as a fieldsV1 tree.
pub fn to_fields_v1(set: &FieldSet) -> Value {
    fn insert(node: &mut Map<String, Value>, path: &[String]) {
        let Some((seg, rest)) = path.split_first() else {
            return;
        };
        let entry = node.entry(seg.clone()).or_insert_with(|| json!({}));
        if rest.is_empty() {
            return;
        }
        if let Some(m) = entry.as_object_mut() {
            // Items of keyed lists also own themselves (".").
            if seg.starts_with("k:") || seg.starts_with("v:") {
                m.entry(".".to_string()).or_insert_with(|| json!({}));
            }
            insert(m, rest);
        }
    }
    let mut root = Map::new();
    for p in set {
        insert(&mut root, p);
    }
    Value::Object(root)
}

/// Parses a fieldsV1 tree into its leaf paths.
pub fn from_fields_v1(v: &Value) -> FieldSet {
    let mut out = FieldSet::new();
    let mut path = vec![];
    fn walk(v: &Value, path: &mut FieldPath, out: &mut FieldSet) {
        match v.as_object() {
            Some(m) if !m.is_empty() => {
                for (k, child) in m {
                    path.push(k.clone());
                    walk(child, path, out);
                    path.pop();
                }
            }
            _ => {
                if !path.is_empty() {
                    out.insert(path.clone());
                }
            }
        }
    }
    walk(v, &mut path, &mut out);
    out
}

/// `.spec.template.spec.containers[name="web"].image`
pub fn path_string(p: &FieldPath) -> String {
    let mut s = String::new();
    for seg in p {
        if let Some(f) = seg.strip_prefix("f:") {
            s.push('.');
            s.push_str(f);
        } else if let Some(k) = seg.strip_prefix("k:") {
            let parts: Vec<String> = serde_json::from_str::<Map<String, Value>>(k)
                .map(|m| m.iter().map(|(k, v)| format!("{k}={v}")).collect())
                .unwrap_or_default();
            s.push_str(&format!("[{}]", parts.join(",")));
        } else if let Some(v) = seg.strip_prefix("v:") {
            s.push_str(&format!("[={v}]"));
        }
    }
    s
}

#[derive(Debug, Clone)]
pub struct ManagedEntry {
    pub manager: String,
    pub operation: String,
    pub api_version: String,
    pub time: String,
    pub subresource: Option<String>,
    pub fields: FieldSet,
}

impl ManagedEntry {
    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "manager": self.manager,
            "operation": self.operation,
            "apiVersion": self.api_version,
            "time": self.time,
            "fieldsType": "FieldsV1",
            "fieldsV1": to_fields_v1(&self.fields),
        });
        if let Some(s) = &self.subresource {
            v["subresource"] = json!(s);
        }
        v
    }

    fn same_owner(&self, manager: &str, operation: &str, subresource: Option<&str>) -> bool {
        self.manager == manager && self.operation == operation && self.subresource.as_deref() == subresource
    }
}

pub fn read_managed(obj: &Value) -> Vec<ManagedEntry> {
    obj.pointer("/metadata/managedFields")
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .map(|e| ManagedEntry {
                    manager: e.get("manager").and_then(Value::as_str).unwrap_or("").to_string(),
                    operation: e
                        .get("operation")
                        .and_then(Value::as_str)
                        .unwrap_or("Update")
                        .to_string(),
                    api_version: e
                        .get("apiVersion")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string(),
                    time: e.get("time").and_then(Value::as_str).unwrap_or("").to_string(),
                    subresource: e.get("subresource").and_then(Value::as_str).map(str::to_string),
                    fields: e.get("fieldsV1").map(from_fields_v1).unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

pub fn write_managed(obj: &mut Value, entries: &[ManagedEntry]) {
    let list: Vec<Value> = entries
        .iter()
        .filter(|e| !e.fields.is_empty())
        .map(ManagedEntry::to_json)
        .collect();
    if !obj.get("metadata").is_some_and(Value::is_object) && !list.is_empty() {
        obj["metadata"] = json!({});
    }
    if let Some(meta) = obj.get_mut("metadata").and_then(Value::as_object_mut) {
        if list.is_empty() {
            meta.remove("managedFields");
        } else {
            meta.insert("managedFields".into(), Value::Array(list));
        }
    }
}

pub struct Writer<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub time: &'a str,
    pub subresource: Option<&'a str>,
    pub builtin: bool,
    pub scope: Scope,
}

/// Records a non-apply write (create/update/patch) by `w.manager` in `new`'s managedFields.
pub fn record_update(old: Option<&Value>, new: &mut Value, w: &Writer) {
    let mut entries = match old {
        Some(o) => read_managed(o),
        None => vec![],
    };
    let old_flat = old.map(|o| flatten(o, w.scope, w.builtin)).unwrap_or_default();
    let new_flat = flatten(new, w.scope, w.builtin);
    let changed: FieldSet = new_flat
        .iter()
        .filter(|(p, v)| old_flat.get(*p) != Some(*v))
        .map(|(p, _)| p.clone())
        .collect();
    let removed: FieldSet = old_flat
        .keys()
        .filter(|p| !new_flat.contains_key(*p))
        .cloned()
        .collect();
    for e in entries.iter_mut() {
        e.fields.retain(|p| !changed.contains(p) && !removed.contains(p));
    }
    if !changed.is_empty() {
        match entries
            .iter_mut()
            .find(|e| e.same_owner(w.manager, "Update", w.subresource))
        {
            Some(e) => {
                e.fields.extend(changed);
                e.time = w.time.to_string();
                e.api_version = w.api_version.to_string();
            }
            None => entries.push(ManagedEntry {
                manager: w.manager.to_string(),
                operation: "Update".into(),
                api_version: w.api_version.to_string(),
                time: w.time.to_string(),
                subresource: w.subresource.map(str::to_string),
                fields: changed,
            }),
        }
    }
    write_managed(new, &entries);
}

#[derive(Debug)]
pub struct ApplyConflict {
    pub manager: String,
    pub api_version: String,
    pub path: String,
}

/// Merge for server-side apply: maps merge, keyed lists merge by key, other lists are atomic.
pub fn apply_merge(live: &Value, applied: &Value, builtin: bool) -> Value {
    let mut names = vec![];
    am(live, applied, "", &mut names, builtin)
}

fn am(live: &Value, applied: &Value, field: &str, names: &mut Vec<String>, builtin: bool) -> Value {
    match (live, applied) {
        (Value::Object(l), Value::Object(a)) => {
            let mut out = l.clone();
            if !field.is_empty() {
                names.push(field.to_string());
            }
            for (k, av) in a {
                if av.is_null() {
                    out.remove(k);
                    continue;
                }
                let merged = match out.get(k) {
                    Some(lv) => am(lv, av, k, names, builtin),
                    None => av.clone(),
                };
                out.insert(k.clone(), merged);
            }
            if !field.is_empty() {
                names.pop();
            }
            Value::Object(out)
        }
        (Value::Array(l), Value::Array(a)) => {
            let key = merge_key(names, field, true).filter(|_| builtin || field == "ownerReferences");
            match key {
                Some(key) if a.iter().all(Value::is_object) && l.iter().all(Value::is_object) => {
                    names.push(field.to_string());
                    let mut out = vec![];
                    for item in a {
                        match l.iter().find(|li| item_matches(li, item, key, true)) {
                            Some(li) => out.push(am(li, item, "", names, builtin)),
                            None => out.push(item.clone()),
                        }
                    }
                    for li in l {
                        if !a.iter().any(|item| item_matches(li, item, key, true)) {
                            out.push(li.clone());
                        }
                    }
                    names.pop();
                    Value::Array(out)
                }
                _ if field == "finalizers" => {
                    let mut out = a.clone();
                    for li in l {
                        if !out.contains(li) {
                            out.push(li.clone());
                        }
                    }
                    Value::Array(out)
                }
                _ => applied.clone(),
            }
        }
        _ => applied.clone(),
    }
}

fn seg_matches(item: &Value, seg: &str) -> bool {
    if let Some(k) = seg.strip_prefix("k:")
        && let Ok(m) = serde_json::from_str::<Map<String, Value>>(k)
    {
        {
            return m.iter().all(|(k, v)| {
                let got = item.get(k);
                if k == "protocol" {
                    got.and_then(Value::as_str).unwrap_or("TCP") == v.as_str().unwrap_or("TCP")
                } else {
                    got == Some(v)
                }
            });
        }
    }
    if let Some(v) = seg.strip_prefix("v:") {
        return serde_json::from_str::<Value>(v).ok().as_ref() == Some(item);
    }
    false
}

/// Removes the field at `path` from `obj`, pruning maps and lists left empty.
pub fn remove_path(obj: &mut Value, path: &[String]) {
    if path.is_empty() {
        return;
    }
    let seg = &path[0];
    let last = path.len() == 1 || (path.len() == 2 && path[1] == ".");
    if let Some(f) = seg.strip_prefix("f:") {
        let Some(m) = obj.as_object_mut() else { return };
        if last {
            m.remove(f);
            return;
        }
        if let Some(child) = m.get_mut(f) {
            remove_path(child, &path[1..]);
            let empty = match child {
                Value::Object(c) => c.is_empty(),
                Value::Array(a) => a.is_empty(),
                _ => false,
            };
            if empty && f != "metadata" && f != "spec" {
                m.remove(f);
            }
        }
    } else if let Some(a) = obj.as_array_mut() {
        let Some(pos) = a.iter().position(|i| seg_matches(i, seg)) else {
            return;
        };
        if last {
            a.remove(pos);
        } else {
            remove_path(&mut a[pos], &path[1..]);
        }
    }
}

pub struct ApplyRequest<'a> {
    pub manager: &'a str,
    pub api_version: &'a str,
    pub time: &'a str,
    pub force: bool,
    pub builtin: bool,
    pub scope: Scope,
}

/// Server-side apply of `applied` onto `live` (None: the object does not exist yet).
/// Returns the merged object with updated managedFields, or the conflicts.
pub fn server_side_apply(
    live: Option<&Value>,
    applied: &Value,
    req: &ApplyRequest,
) -> Result<Value, Vec<ApplyConflict>> {
    let empty = json!({});
    let live_v = live.unwrap_or(&empty);
    let mut entries = read_managed(live_v);
    let applied_flat = flatten(applied, req.scope, req.builtin);
    let live_flat = flatten(live_v, req.scope, req.builtin);
    let new_set: FieldSet = applied_flat.keys().cloned().collect();

    // Conflicts with other managers over fields whose value would change.
    let mut conflicts = vec![];
    let mut forced: Vec<(usize, FieldPath)> = vec![];
    for (i, e) in entries.iter().enumerate() {
        if e.same_owner(req.manager, "Apply", None) {
            continue;
        }
        for p in e.fields.intersection(&new_set) {
            if live_flat.get(p) != applied_flat.get(p) && live_flat.contains_key(p) {
                if req.force {
                    forced.push((i, p.clone()));
                } else {
                    conflicts.push(ApplyConflict {
                        manager: e.manager.clone(),
                        api_version: e.api_version.clone(),
                        path: path_string(p),
                    });
                }
            }
        }
    }
    if !conflicts.is_empty() {
        return Err(conflicts);
    }
    for (i, p) in forced {
        entries[i].fields.remove(&p);
    }

    let mut merged = apply_merge(live_v, applied, req.builtin);

    // Fields this manager applied before but no longer does, and nobody else owns, go away.
    let previous: FieldSet = entries
        .iter()
        .find(|e| e.same_owner(req.manager, "Apply", None))
        .map(|e| e.fields.clone())
        .unwrap_or_default();
    for p in previous.difference(&new_set) {
        let owned_by_other = entries
            .iter()
            .any(|e| !e.same_owner(req.manager, "Apply", None) && e.fields.contains(p));
        if !owned_by_other {
            remove_path(&mut merged, p);
        }
    }

    match entries
        .iter_mut()
        .find(|e| e.same_owner(req.manager, "Apply", None))
    {
        Some(e) => {
            e.fields = new_set;
            e.time = req.time.to_string();
            e.api_version = req.api_version.to_string();
        }
        None => entries.push(ManagedEntry {
            manager: req.manager.to_string(),
            operation: "Apply".into(),
            api_version: req.api_version.to_string(),
            time: req.time.to_string(),
            subresource: None,
            fields: new_set,
        }),
    }
    write_managed(&mut merged, &entries);
    Ok(merged)
}

pub fn conflict_message(conflicts: &[ApplyConflict]) -> String {
    if conflicts.len() == 1 {
        let c = &conflicts[0];
        return format!(
            "Apply failed with 1 conflict: conflict with \"{}\" using {}: {}",
            c.manager, c.api_version, c.path
        );
    }
    let mut by_manager: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    for c in conflicts {
        by_manager
            .entry((c.manager.clone(), c.api_version.clone()))
            .or_default()
            .push(c.path.clone());
    }
    let mut s = format!("Apply failed with {} conflicts: ", conflicts.len());
    let parts: Vec<String> = by_manager
        .iter()
        .map(|((m, v), paths)| {
            if paths.len() == 1 {
                format!("conflict with \"{m}\" using {v}: {}", paths[0])
            } else {
                format!("conflicts with \"{m}\" using {v}:\n- {}", paths.join("\n- "))
            }
        })
        .collect();
    s.push_str(&parts.join("\n"));
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn smp_merges_containers_by_name() {
        let orig =
            json!({"spec": {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}});
        let patch =
            json!({"spec": {"containers": [{"name": "b", "image": "z"}, {"name": "c", "image": "w"}]}});
        let r = strategic_merge(&orig, &patch, true).unwrap();
        assert_eq!(r["spec"]["containers"].as_array().unwrap().len(), 3);
        assert_eq!(r["spec"]["containers"][1]["image"], "z");
        let del = json!({"spec": {"containers": [{"name": "a", "$patch": "delete"}]}});
        let r = strategic_merge(&r, &del, true).unwrap();
        assert_eq!(r["spec"]["containers"].as_array().unwrap().len(), 2);
        let repl = json!({"metadata": {"labels": {"$patch": "replace", "x": "1"}}});
        let r = strategic_merge(&json!({"metadata": {"labels": {"a": "b"}}}), &repl, true).unwrap();
        assert_eq!(r["metadata"]["labels"], json!({"x": "1"}));
    }

    #[test]
    fn ssa_conflicts_and_removal() {
        let req = |m: &'static str, force| ApplyRequest {
            manager: m,
            api_version: "apps/v1",
            time: "t",
            force,
            builtin: true,
            scope: Scope::Main { exclude_status: true },
        };
        let a1 = json!({"spec": {"replicas": 1, "paused": false}});
        let o = server_side_apply(None, &a1, &req("one", false)).unwrap();
        let a2 = json!({"spec": {"replicas": 2}});
        let err = server_side_apply(Some(&o), &a2, &req("two", false)).unwrap_err();
        assert_eq!(
            conflict_message(&err),
            "Apply failed with 1 conflict: conflict with \"one\" using apps/v1: .spec.replicas"
        );
        let o2 = server_side_apply(Some(&o), &a2, &req("two", true)).unwrap();
        assert_eq!(o2["spec"]["replicas"], 2);
        // "one" stops applying paused: removed as nobody else owns it.
        let o3 = server_side_apply(Some(&o2), &json!({"spec": {}}), &req("one", false)).unwrap();
        assert!(o3["spec"].get("paused").is_none());
        assert_eq!(o3["spec"]["replicas"], 2);
    }
}
