//! Subresources: `status`, `scale`, a namespace's `finalize`, a service account's `token` and
//! a pod's `log`.

use axum::http::Method;
use axum::response::Response;
use serde_json::{Value, json};

use super::{Call, content_type, json_response, parse_body};
use crate::errors::{ApiError, ApiResult};
use crate::ops::{self, meta_str};

pub(super) fn status(c: &Call, name: &str) -> ApiResult<Response> {
    let ns = c.ns_str();
    let opts = c.wopts(Some("status"));
    match *c.method {
        Method::GET => super::objects::get(c, name),
        Method::PUT => {
            let obj = parse_body(c.headers, c.body)?;
            let mut st = c.sim.store.lock();
            let v = c.op(&mut st).update(ns, name, obj, &opts)?;
            Ok(json_response(200, &v))
        }
        Method::PATCH => {
            let ct = content_type(c.headers);
            let mut st = c.sim.store.lock();
            let (v, _) = c.op(&mut st).patch(ns, name, &ct, c.body, &opts)?;
            Ok(json_response(200, &v))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// The autoscaling/v1 Scale of an object with `spec.replicas`.
fn to_scale(o: &Value, ns: &str) -> Value {
    let sel = o
        .pointer("/spec/selector/matchLabels")
        .and_then(Value::as_object)
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    let mut meta = json!({
        "name": meta_str(o, "name"),
        "uid": meta_str(o, "uid"),
        "resourceVersion": meta_str(o, "resourceVersion"),
        "creationTimestamp": o.pointer("/metadata/creationTimestamp").cloned().unwrap_or(Value::Null),
    });
    if !ns.is_empty() {
        meta["namespace"] = json!(ns);
    }
    json!({
        "kind": "Scale", "apiVersion": "autoscaling/v1", "metadata": meta,
        "spec": {"replicas": o.pointer("/spec/replicas").cloned().unwrap_or(json!(0))},
        "status": {"replicas": o.pointer("/status/replicas").cloned().unwrap_or(json!(0)), "selector": sel}
    })
}

/// The Scale a PATCH makes of `current` (any patch type is applied to the Scale as JSON).
fn patch_scale(current: &Value, content_type: &str, body: &[u8]) -> ApiResult<Value> {
    let ct = content_type.split(';').next().unwrap_or("").trim();
    let mut doc = current.clone();
    match ct {
        "application/merge-patch+json"
        | "application/strategic-merge-patch+json"
        | "application/apply-patch+yaml" => {
            let p = ops::parse_yaml_or_json(body)?;
            json_patch::merge(&mut doc, &p);
        }
        "application/json-patch+json" => {
            let p: json_patch::Patch = serde_json::from_slice(body)
                .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
            json_patch::patch(&mut doc, &p).map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
        }
        other => return Err(ApiError::unsupported_media_type(other, ops::PATCH_TYPES)),
    }
    Ok(doc)
}

pub(super) fn scale(c: &Call, name: &str) -> ApiResult<Response> {
    let (rt, ns) = (&c.rt, c.ns_str());
    let mut st = c.sim.store.lock();
    let obj = st
        .get(&rt.key(), ns, name)
        .cloned()
        .ok_or_else(|| c.not_found(name))?;
    let current = to_scale(&obj, ns);
    let desired = match *c.method {
        Method::GET => return Ok(json_response(200, &current)),
        Method::PUT => parse_body(c.headers, c.body)?,
        Method::PATCH => patch_scale(&current, &content_type(c.headers), c.body)?,
        _ => return Err(ApiError::method_not_allowed()),
    };
    let rv = meta_str(&desired, "resourceVersion");
    if !rv.is_empty() && rv != meta_str(&obj, "resourceVersion") {
        return Err(ApiError::conflict(&rt.group, &rt.plural, name));
    }
    let replicas = desired
        .pointer("/spec/replicas")
        .and_then(Value::as_i64)
        .ok_or_else(|| ApiError::bad_request("spec.replicas is required"))?;
    let mut new = obj.clone();
    new["spec"]["replicas"] = json!(replicas);
    let v = c.op(&mut st).commit_update(&obj, new, &c.wopts(None), false)?;
    Ok(json_response(200, &to_scale(&v, ns)))
}

/// PUT namespaces/{name}/finalize: replaces the namespace's `spec.finalizers`.
pub(super) fn finalize(c: &Call, name: &str) -> ApiResult<Response> {
    if *c.method != Method::PUT {
        return Err(ApiError::method_not_allowed());
    }
    let obj = parse_body(c.headers, c.body)?;
    let mut st = c.sim.store.lock();
    let old = st
        .get("/namespaces", "", name)
        .cloned()
        .ok_or_else(|| ApiError::not_found("", "namespaces", name))?;
    let mut new = old.clone();
    new["spec"]["finalizers"] = obj.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
    let opts = c.wopts(Some("finalize"));
    let v = c.op(&mut st).commit_update(&old, new, &opts, false)?;
    Ok(json_response(200, &v))
}

/// POST serviceaccounts/{name}/token.
pub(super) fn token(c: &Call, name: &str) -> ApiResult<Response> {
    if *c.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    // Only the expiry is read from the TokenRequest; kubectl sends it as protobuf,
    // which is taken as "the defaults".
    let req: Value = parse_body(c.headers, c.body).unwrap_or_else(|_| json!({}));
    let ns = c.ns_str();
    let token = crate::rbac::issue_token(c.sim, ns, name)?;
    Ok(json_response(
        201,
        &crate::rbac::token_request(ns, name, &req, &token),
    ))
}

/// GET pods/{name}/log.
pub(super) fn log(c: &Call, name: &str) -> ApiResult<Response> {
    if *c.method != Method::GET {
        return Err(ApiError::method_not_allowed());
    }
    crate::controllers::pod_logs(c.sim.clone(), c.ns_str(), name, c.q)
}
