//! The verbs on a collection (list, watch, create, delete-collection) and on one object (get,
//! update, patch, delete).

use axum::http::Method;
use axum::response::Response;
use serde_json::json;

use super::{Call, content_type, json_response, list_opts, parse_body, q_bool};
use crate::errors::{ApiError, ApiResult};
use crate::ops::{self, meta_str, present};

/// `/…/{resource}` (in a namespace or across all).
pub(super) fn collection(c: &Call) -> ApiResult<Response> {
    match *c.method {
        Method::GET if q_bool(c.q, "watch") => super::watch::watch_response(c),
        Method::GET => list(c),
        Method::POST => {
            if c.rt.namespaced && c.ns.is_none() {
                return Err(ApiError::method_not_allowed());
            }
            let obj = parse_body(c.headers, c.body)?;
            let mut st = c.sim.store.lock();
            let v = c.op(&mut st).create(c.ns, obj, &c.wopts(None), None)?;
            Ok(json_response(201, &v))
        }
        Method::DELETE => delete_collection(c),
        _ => Err(ApiError::method_not_allowed()),
    }
}

fn list(c: &Call) -> ApiResult<Response> {
    let st = c.sim.store.lock();
    if let Some(ns) = c.ns {
        ops::check_namespace(&st, &c.rt, ns, "", false).or_else(|e| {
            // Listing in a missing namespace is an empty list, like the real server.
            if e.code == 404 { Ok(()) } else { Err(e) }
        })?;
    }
    let v = ops::list(&st, &c.rt, &c.version, c.ns, &list_opts(c.q)?)?;
    Ok(json_response(200, &v))
}

/// Deletes every object the selectors match, one by one, and lists what was deleted.
fn delete_collection(c: &Call) -> ApiResult<Response> {
    let rt = &c.rt;
    if !rt.verbs.iter().any(|v| v == "deletecollection") {
        return Err(ApiError::method_not_allowed());
    }
    let dopts = c.delete_opts()?;
    let mut st = c.sim.store.lock();
    let targets: Vec<(String, String)> = {
        let filter = ops::Filter::new(
            rt,
            c.q.get("labelSelector").map(String::as_str),
            c.q.get("fieldSelector").map(String::as_str),
        )?;
        st.list(&rt.key(), c.ns)
            .filter(|o| filter.matches(o))
            .map(|o| {
                (
                    meta_str(o, "namespace").to_string(),
                    meta_str(o, "name").to_string(),
                )
            })
            .collect()
    };
    let mut items = vec![];
    for (ons, oname) in targets {
        if let Some(obj) = st.get(&rt.key(), &ons, &oname).cloned() {
            c.op(&mut st).delete(&ons, &oname, &dopts)?;
            let mut item = present(rt, &c.version, obj);
            if let Some(m) = item.as_object_mut()
                && !rt.custom
            {
                m.remove("kind");
                m.remove("apiVersion");
            }
            items.push(item);
        }
    }
    let v = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(&c.version), "metadata": {"resourceVersion": st.rv.to_string()}, "items": items});
    Ok(json_response(200, &v))
}

/// `/…/{resource}/{name}`.
pub(super) fn object(c: &Call, name: &str) -> ApiResult<Response> {
    let ns = c.ns_str();
    match *c.method {
        Method::GET => get(c, name),
        Method::PUT => {
            let obj = parse_body(c.headers, c.body)?;
            let mut st = c.sim.store.lock();
            let v = c.op(&mut st).update(ns, name, obj, &c.wopts(None))?;
            Ok(json_response(200, &v))
        }
        Method::PATCH => {
            let ct = content_type(c.headers);
            let mut st = c.sim.store.lock();
            let (v, created) = c.op(&mut st).patch(ns, name, &ct, c.body, &c.wopts(None))?;
            Ok(json_response(if created { 201 } else { 200 }, &v))
        }
        Method::DELETE => {
            let dopts = c.delete_opts()?;
            let mut st = c.sim.store.lock();
            let v = c.op(&mut st).delete(ns, name, &dopts)?;
            Ok(json_response(200, &v))
        }
        _ => Err(ApiError::method_not_allowed()),
    }
}

/// GET of one object (also of its status subresource: the whole object).
pub(super) fn get(c: &Call, name: &str) -> ApiResult<Response> {
    let st = c.sim.store.lock();
    let obj = st
        .get(&c.rt.key(), c.ns_str(), name)
        .cloned()
        .ok_or_else(|| c.not_found(name))?;
    Ok(json_response(200, &present(&c.rt, &c.version, obj)))
}
