//! HTTP routing: authentication, discovery and the generic resource handlers.

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::{Value, json};

use crate::Sim;
use crate::errors::{ApiError, ApiResult};
use crate::ops::{self, DeleteOpts, ListOpts, WriteOpts, meta_str, present};
use crate::registry::ResourceType;
use crate::watch::{self, WatchParams};

pub const MAX_BODY: usize = 3 * 1024 * 1024;

pub fn router(sim: Arc<Sim>) -> Router {
    Router::new().fallback(handle).with_state(sim)
}

fn json_response(code: u16, v: &Value) -> Response {
    let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        [(header::CONTENT_TYPE, "application/json")],
        v.to_string(),
    )
        .into_response()
}

fn error_response(e: &ApiError) -> Response {
    json_response(e.code, &e.to_status())
}

fn text(code: StatusCode, s: &str) -> Response {
    (
        code,
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        s.to_string(),
    )
        .into_response()
}

type Q = HashMap<String, String>;

fn q_bool(q: &Q, k: &str) -> bool {
    matches!(q.get(k).map(String::as_str), Some("true" | "1"))
}

fn is_public(path: &str) -> bool {
    ["/healthz", "/livez", "/readyz", "/version"]
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")))
}

async fn handle(State(sim): State<Arc<Sim>>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let path = parts.uri.path().to_string();
    let q: Q = Query::<Q>::try_from_uri(&parts.uri)
        .map(|Query(q)| q)
        .unwrap_or_default();

    let auth = parts
        .headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    // The cluster's token may do anything; a service account's is held to RBAC.
    let who = match auth.and_then(|a| a.strip_prefix("Bearer ")).map(str::trim) {
        Some(t) if t == sim.token => None,
        Some(t) => match sim.service_account_tokens.lock().get(t) {
            Some(sa) => Some(sa.clone()),
            None => return error_response(&ApiError::unauthorized()),
        },
        None if auth.is_none() && is_public(&path) => None,
        None => return error_response(&ApiError::unauthorized()),
    };

    if let Some(len) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok())
        && len > MAX_BODY
    {
        return error_response(&ApiError::too_large(MAX_BODY));
    }
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b,
        Err(_) => return error_response(&ApiError::too_large(MAX_BODY)),
    };

    match route(&sim, who.as_ref(), &parts.method, &path, &q, &parts.headers, body).await {
        Ok(r) => r,
        Err(e) => error_response(&e),
    }
}

async fn route(
    sim: &Arc<Sim>,
    who: Option<&crate::rbac::ServiceAccount>,
    method: &Method,
    path: &str,
    q: &Q,
    headers: &HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let path = path.trim_end_matches('/');
    match path {
        "" => return Ok(json_response(200, &root_paths(sim))),
        "/version" => return Ok(json_response(200, &version(sim))),
        "/healthz" | "/livez" | "/readyz" => return Ok(text(StatusCode::OK, "ok")),
        "/api" | "/apis" if wants_aggregated(headers) => {
            return Ok(aggregated_discovery(sim, path == "/api"));
        }
        "/api" => return Ok(json_response(200, &api_versions(headers))),
        "/apis" => return Ok(json_response(200, &api_group_list(sim))),
        _ => {}
    }
    if path.starts_with("/healthz/") || path.starts_with("/livez/") || path.starts_with("/readyz/") {
        return Ok(text(StatusCode::OK, "ok"));
    }
    if path == "/openapi/v3" {
        return Ok(json_response(200, &openapi_v3_root(sim)));
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        return openapi_v3_gv(sim, gv).map(|v| json_response(200, &v));
    }
    if path.starts_with("/openapi/") || path == "/swagger.json" {
        return Err(ApiError::no_route());
    }
    let (group, version, rest) = if let Some(r) = path.strip_prefix("/api/v1") {
        if !(r.is_empty() || r.starts_with('/')) {
            return Err(ApiError::no_route());
        }
        ("".to_string(), "v1".to_string(), r)
    } else if let Some(r) = path.strip_prefix("/apis/") {
        let mut it = r.splitn(3, '/');
        let g = it.next().unwrap_or("").to_string();
        match it.next() {
            None => return api_group(sim, &g).map(|v| json_response(200, &v)),
            Some(v) => (g, v.to_string(), it.next().unwrap_or("")),
        }
    } else {
        return Err(ApiError::no_route());
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return resource_list(sim, &group, &version).map(|v| json_response(200, &v));
    }
    let ns_sub = segs.len() == 3 && (segs[2] == "status" || segs[2] == "finalize") && group.is_empty();
    let (ns, res, tail): (Option<&str>, &str, &[&str]) =
        if segs[0] == "namespaces" && segs.len() >= 3 && !ns_sub {
            (Some(segs[1]), segs[2], &segs[3..])
        } else {
            (None, segs[0], &segs[1..])
        };
    let rt = sim
        .registry
        .read()
        .lookup(&group, &version, res)
        .cloned()
        .ok_or_else(ApiError::no_route)?;
    if ns.is_some() && !rt.namespaced {
        return Err(ApiError::no_route());
    }
    if tail.len() > 2 {
        return Err(ApiError::no_route());
    }
    if rt.namespaced && ns.is_none() && !tail.is_empty() {
        return Err(ApiError::no_route());
    }
    let name = tail.first().copied();
    let sub = tail.get(1).copied();
    let ns_str = ns.unwrap_or("");
    if let Some(who) = who {
        let req = crate::rbac::Request {
            verb: crate::rbac::verb(method, name.is_some(), q_bool(q, "watch")),
            group: &rt.group,
            resource: &rt.plural,
            subresource: sub,
            // A request on a namespace object is in that namespace, as the apiserver sees it.
            namespace: if rt.plural == "namespaces" && rt.group.is_empty() {
                name.or(ns)
            } else {
                ns
            },
            name,
        };
        crate::rbac::authorize(&sim.store.lock(), who, &req)?;
    }
    let dry_run = q.get("dryRun").is_some_and(|v| v == "All");
    if let Some(d) = q.get("dryRun")
        && d != "All"
        && !d.is_empty()
    {
        return Err(ApiError::bad_request(format!(
            "Invalid dryRun value: {d}: supported values: \"All\""
        )));
    }
    let manager = q
        .get("fieldManager")
        .cloned()
        .unwrap_or_else(|| default_manager(headers));
    let wopts = |sub: Option<&str>| WriteOpts {
        dry_run,
        manager: manager.clone(),
        manager_explicit: q.contains_key("fieldManager"),
        force: q_bool(q, "force"),
        subresource: sub.map(str::to_string),
    };

    match (name, sub) {
        (None, None) => match *method {
            Method::GET => {
                if q_bool(q, "watch") {
                    return watch_response(sim, &rt, &version, ns, q);
                }
                let st = sim.store.lock();
                if let Some(ns) = ns {
                    ops::check_namespace(&st, &rt, ns, "", false).or_else(|e| {
                        // Listing in a missing namespace is an empty list, like the real server.
                        if e.code == 404 { Ok(()) } else { Err(e) }
                    })?;
                }
                let v = ops::list(&st, &rt, &version, ns, &list_opts(q)?)?;
                Ok(json_response(200, &v))
            }
            Method::POST => {
                if rt.namespaced && ns.is_none() {
                    return Err(ApiError::method_not_allowed());
                }
                let obj = parse_body(headers, &body)?;
                let mut st = sim.store.lock();
                let v = ops::create(sim, &mut st, &rt, &version, ns, obj, &wopts(None), None)?;
                Ok(json_response(201, &v))
            }
            Method::DELETE => {
                if !rt.verbs.iter().any(|v| v == "deletecollection") {
                    return Err(ApiError::method_not_allowed());
                }
                let mut dopts = delete_opts(q, dry_run);
                dopts.merge_body(&delete_body(headers, &body)?)?;
                let mut st = sim.store.lock();
                let targets: Vec<(String, String)> = {
                    let filter = ops::Filter::new(
                        &rt,
                        q.get("labelSelector").map(String::as_str),
                        q.get("fieldSelector").map(String::as_str),
                    )?;
                    st.list(&rt.key(), ns)
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
                        ops::delete(sim, &mut st, &rt, &version, &ons, &oname, &dopts)?;
                        let mut item = present(&rt, &version, obj);
                        if let Some(m) = item.as_object_mut()
                            && !rt.custom
                        {
                            m.remove("kind");
                            m.remove("apiVersion");
                        }
                        items.push(item);
                    }
                }
                let v = json!({"kind": rt.list_kind, "apiVersion": rt.api_version(&version), "metadata": {"resourceVersion": st.rv.to_string()}, "items": items});
                Ok(json_response(200, &v))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), None) => match *method {
            Method::GET => {
                let st = sim.store.lock();
                let obj = st
                    .get(&rt.key(), ns_str, name)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
                Ok(json_response(200, &present(&rt, &version, obj)))
            }
            Method::PUT => {
                let obj = parse_body(headers, &body)?;
                let mut st = sim.store.lock();
                let v = ops::update(sim, &mut st, &rt, &version, ns_str, name, obj, &wopts(None))?;
                Ok(json_response(200, &v))
            }
            Method::PATCH => {
                let ct = content_type(headers);
                let mut st = sim.store.lock();
                let (v, created) = ops::patch(
                    sim,
                    &mut st,
                    &rt,
                    &version,
                    ns_str,
                    name,
                    &ct,
                    &body,
                    &wopts(None),
                )?;
                Ok(json_response(if created { 201 } else { 200 }, &v))
            }
            Method::DELETE => {
                let mut dopts = delete_opts(q, dry_run);
                dopts.merge_body(&delete_body(headers, &body)?)?;
                let mut st = sim.store.lock();
                let v = ops::delete(sim, &mut st, &rt, &version, ns_str, name, &dopts)?;
                Ok(json_response(200, &v))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("status")) if rt.status => match *method {
            Method::GET => {
                let st = sim.store.lock();
                let obj = st
                    .get(&rt.key(), ns_str, name)
                    .cloned()
                    .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
                Ok(json_response(200, &present(&rt, &version, obj)))
            }
            Method::PUT => {
                let obj = parse_body(headers, &body)?;
                let mut st = sim.store.lock();
                let v = ops::update(
                    sim,
                    &mut st,
                    &rt,
                    &version,
                    ns_str,
                    name,
                    obj,
                    &wopts(Some("status")),
                )?;
                Ok(json_response(200, &v))
            }
            Method::PATCH => {
                let ct = content_type(headers);
                let mut st = sim.store.lock();
                let (v, _) = ops::patch(
                    sim,
                    &mut st,
                    &rt,
                    &version,
                    ns_str,
                    name,
                    &ct,
                    &body,
                    &wopts(Some("status")),
                )?;
                Ok(json_response(200, &v))
            }
            _ => Err(ApiError::method_not_allowed()),
        },
        (Some(name), Some("scale")) if rt.scale => scale(
            sim,
            method,
            &rt,
            &version,
            ns_str,
            name,
            headers,
            &body,
            &wopts(None),
        ),
        (Some(name), Some("finalize")) if rt.plural == "namespaces" && rt.group.is_empty() => {
            if *method != Method::PUT {
                return Err(ApiError::method_not_allowed());
            }
            let obj = parse_body(headers, &body)?;
            let mut st = sim.store.lock();
            let old = st
                .get("/namespaces", "", name)
                .cloned()
                .ok_or_else(|| ApiError::not_found("", "namespaces", name))?;
            let mut new = old.clone();
            new["spec"]["finalizers"] = obj.pointer("/spec/finalizers").cloned().unwrap_or(json!([]));
            let v = ops::commit_update(
                sim,
                &mut st,
                &rt,
                &version,
                &old,
                new,
                &wopts(Some("finalize")),
                false,
            )?;
            Ok(json_response(200, &v))
        }
        (Some(name), Some("token")) if rt.plural == "serviceaccounts" && rt.group.is_empty() => {
            if *method != Method::POST {
                return Err(ApiError::method_not_allowed());
            }
            // Only the expiry is read from the TokenRequest; kubectl sends it as protobuf,
            // which is taken as "the defaults".
            let req: Value = parse_body(headers, &body).unwrap_or_else(|_| json!({}));
            let token = crate::rbac::issue_token(sim, ns_str, name)?;
            Ok(json_response(
                201,
                &crate::rbac::token_request(ns_str, name, &req, &token),
            ))
        }
        (Some(name), Some("log")) if rt.plural == "pods" && rt.group.is_empty() => {
            if *method != Method::GET {
                return Err(ApiError::method_not_allowed());
            }
            crate::controllers::pod_logs(sim.clone(), ns_str, name, q)
        }
        _ => Err(ApiError::no_route()),
    }
}

fn default_manager(headers: &HeaderMap) -> String {
    let ua = headers
        .get(header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let m: String = ua.split('/').next().unwrap_or("").chars().take(128).collect();
    if m.is_empty() { "unknown".to_string() } else { m }
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string()
}

fn parse_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Value> {
    let ct = content_type(headers);
    let ct = ct.split(';').next().unwrap_or("").trim();
    let v = match ct {
        "" | "application/json" | "*/*" => serde_json::from_slice::<Value>(body).map_err(|e| {
            ApiError::bad_request(format!(
                "Object 'Kind' is missing in '{}': {e}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ))
        })?,
        "application/yaml" | "application/x-yaml" | "text/yaml" => ops::parse_yaml_or_json(body)?,
        crate::protobuf::CONTENT_TYPE => crate::protobuf::decode(body)
            .map_err(|e| ApiError::unsupported_media_type(&e, &["application/json", "application/yaml"]))?,
        other => {
            tracing::debug!(content_type = other, "unsupported request body type");
            return Err(ApiError::unsupported_media_type(
                other,
                &["application/json", "application/yaml"],
            ));
        }
    };
    if !v.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request must be a JSON object",
        ));
    }
    Ok(v)
}

/// An integer query parameter; a malformed one is a 400, as in the real server.
fn q_int(q: &Q, name: &str) -> ApiResult<Option<i64>> {
    match q.get(name).map(String::as_str) {
        None | Some("") => Ok(None),
        Some(v) => v.parse::<i64>().map(Some).map_err(|_| {
            ApiError::bad_request(format!(
                "invalid value {v:?} for query parameter {name}: not an integer"
            ))
        }),
    }
}

fn list_opts(q: &Q) -> ApiResult<ListOpts> {
    Ok(ListOpts {
        label_selector: q.get("labelSelector").cloned(),
        field_selector: q.get("fieldSelector").cloned(),
        limit: q_int(q, "limit")?.map(|l| l.max(0) as usize),
        continue_token: q.get("continue").cloned(),
    })
}

fn delete_opts(q: &Q, dry_run: bool) -> DeleteOpts {
    DeleteOpts {
        dry_run,
        propagation: q.get("propagationPolicy").cloned(),
        precondition_uid: None,
        precondition_rv: None,
    }
}

fn watch_response(
    sim: &Arc<Sim>,
    rt: &ResourceType,
    version: &str,
    ns: Option<&str>,
    q: &Q,
) -> ApiResult<Response> {
    let filter = ops::Filter::new(
        rt,
        q.get("labelSelector").map(String::as_str),
        q.get("fieldSelector").map(String::as_str),
    )?;
    let timeout = q_int(q, "timeoutSeconds")?
        .filter(|t| *t > 0)
        .map(|t| Duration::from_secs(t as u64))
        .unwrap_or(Duration::from_secs(1800));
    let rx = watch::start(
        sim.clone(),
        rt.clone(),
        version.to_string(),
        WatchParams {
            resource_version: q.get("resourceVersion").cloned(),
            bookmarks: q_bool(q, "allowWatchBookmarks"),
            timeout,
            send_initial_events: q_bool(q, "sendInitialEvents"),
            ns: ns.map(str::to_string),
            filter,
        },
    );
    Ok(stream_response("application/json", rx))
}

pub fn stream_response(content_type: &'static str, rx: tokio::sync::mpsc::Receiver<Bytes>) -> Response {
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<Bytes, Infallible>(b), rx))
    });
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CACHE_CONTROL, "no-cache, private")
        .body(Body::from_stream(stream))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

#[allow(clippy::too_many_arguments)]
fn scale(
    sim: &Arc<Sim>,
    method: &Method,
    rt: &ResourceType,
    version: &str,
    ns: &str,
    name: &str,
    headers: &HeaderMap,
    body: &[u8],
    opts: &WriteOpts,
) -> ApiResult<Response> {
    let mut st = sim.store.lock();
    let obj = st
        .get(&rt.key(), ns, name)
        .cloned()
        .ok_or_else(|| ApiError::not_found(&rt.group, &rt.plural, name))?;
    let to_scale = |o: &Value| {
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
    };
    let current = to_scale(&obj);
    let desired = match *method {
        Method::GET => return Ok(json_response(200, &current)),
        Method::PUT => parse_body(headers, body)?,
        Method::PATCH => {
            let ct = content_type(headers);
            let ct = ct.split(';').next().unwrap_or("").trim().to_string();
            let mut doc = current.clone();
            match ct.as_str() {
                "application/merge-patch+json"
                | "application/strategic-merge-patch+json"
                | "application/apply-patch+yaml" => {
                    let p = ops::parse_yaml_or_json(body)?;
                    json_patch::merge(&mut doc, &p);
                }
                "application/json-patch+json" => {
                    let p: json_patch::Patch = serde_json::from_slice(body)
                        .map_err(|e| ApiError::bad_request(format!("error decoding patch: {e}")))?;
                    json_patch::patch(&mut doc, &p)
                        .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
                }
                other => return Err(ApiError::unsupported_media_type(other, ops::PATCH_TYPES)),
            }
            doc
        }
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
    let v = ops::commit_update(sim, &mut st, rt, version, &obj, new, opts, false)?;
    Ok(json_response(200, &to_scale(&v)))
}

fn root_paths(sim: &Sim) -> Value {
    let mut paths = vec!["/api".to_string(), "/api/v1".to_string(), "/apis".to_string()];
    for (g, vs) in sim.registry.read().groups() {
        paths.push(format!("/apis/{g}"));
        for v in vs {
            paths.push(format!("/apis/{g}/{v}"));
        }
    }
    paths.extend(["/healthz", "/livez", "/readyz", "/version"].map(String::from));
    json!({"paths": paths})
}

fn version(sim: &Sim) -> Value {
    let gv = &sim.cfg.git_version;
    let mut parts = gv.trim_start_matches('v').split('.');
    let major = parts.next().unwrap_or("1");
    let minor = parts.next().unwrap_or("35");
    json!({
        "major": major,
        "minor": minor,
        "emulationMajor": major,
        "emulationMinor": minor,
        "minCompatibilityMajor": major,
        "minCompatibilityMinor": (minor.parse::<u32>().unwrap_or(35).saturating_sub(1)).to_string(),
        "gitVersion": gv,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-12-17T00:00:00Z",
        "goVersion": "go1.25.5",
        "compiler": "gc",
        "platform": "linux/amd64"
    })
}

fn api_versions(headers: &HeaderMap) -> Value {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1")
        .to_string();
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]
    })
}

fn group_json(g: &str, vs: &[String]) -> Value {
    let versions: Vec<Value> = vs
        .iter()
        .map(|v| json!({"groupVersion": format!("{g}/{v}"), "version": v}))
        .collect();
    json!({
        "name": g,
        "versions": versions,
        "preferredVersion": versions[0].clone(),
    })
}

fn api_group_list(sim: &Sim) -> Value {
    let groups: Vec<Value> = sim
        .registry
        .read()
        .groups()
        .iter()
        .map(|(g, vs)| group_json(g, vs))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

fn api_group(sim: &Sim, group: &str) -> ApiResult<Value> {
    let groups = sim.registry.read().groups();
    let (g, vs) = groups
        .iter()
        .find(|(g, _)| g == group)
        .ok_or_else(ApiError::no_route)?;
    let mut v = group_json(g, vs);
    v["kind"] = json!("APIGroup");
    v["apiVersion"] = json!("v1");
    Ok(v)
}

fn resource_list(sim: &Sim, group: &str, version: &str) -> ApiResult<Value> {
    let reg = sim.registry.read();
    if !reg.group_exists(group, version) {
        return Err(ApiError::no_route());
    }
    let resources: Vec<Value> = reg
        .types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
        .flat_map(|t| t.discovery_entries())
        .collect();
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    Ok(json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}))
}

fn openapi_v3_root(sim: &Sim) -> Value {
    let mut paths = serde_json::Map::new();
    let hash = format!("{:016X}", sim.store.lock().rv);
    paths.insert(
        "api/v1".into(),
        json!({"serverRelativeURL": format!("/openapi/v3/api/v1?hash={hash}")}),
    );
    for (g, vs) in sim.registry.read().groups() {
        for v in vs {
            paths.insert(
                format!("apis/{g}/{v}"),
                json!({"serverRelativeURL": format!("/openapi/v3/apis/{g}/{v}?hash={hash}")}),
            );
        }
    }
    json!({"paths": paths})
}

/// A minimal OpenAPI v3 document for one group-version: enough operations (with their
/// group-version-kind and the `fieldValidation`/`dryRun`/`fieldManager` parameters) for
/// kubectl and helm to detect server-side field validation. No schemas.
fn openapi_v3_gv(sim: &Sim, gv: &str) -> ApiResult<Value> {
    let (group, version) = if gv == "api/v1" {
        ("", "v1")
    } else {
        let rest = gv.strip_prefix("apis/").ok_or_else(ApiError::no_route)?;
        rest.split_once('/').ok_or_else(ApiError::no_route)?
    };
    let reg = sim.registry.read();
    if !reg.group_exists(group, version) {
        return Err(ApiError::no_route());
    }
    let prefix = if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/{version}")
    };
    let param =
        |n: &str| json!({"name": n, "in": "query", "schema": {"type": "string", "uniqueItems": true}});
    let mut paths = serde_json::Map::new();
    for t in reg
        .types
        .iter()
        .filter(|t| t.group == group && t.versions.iter().any(|v| v == version))
    {
        let gvk = json!({"group": group, "version": version, "kind": t.kind});
        // Strategic merge patch is accepted for built-ins but not advertised: without schemas
        // here, kubectl must compute its patches from its compiled-in types.
        let patch_types = [
            "application/json-patch+json",
            "application/merge-patch+json",
            "application/apply-patch+yaml",
        ];
        let content: serde_json::Map<String, Value> = patch_types
            .iter()
            .map(|c| (c.to_string(), json!({"schema": {"type": "object"}})))
            .collect();
        let op = |verb: &str, body: Option<Value>| {
            let mut o = json!({
                "operationId": format!("{verb}{}", t.kind),
                "x-kubernetes-action": verb,
                "x-kubernetes-group-version-kind": gvk,
                "parameters": [param("dryRun"), param("fieldManager"), param("fieldValidation")],
                "responses": {"200": {"description": "OK"}, "401": {"description": "Unauthorized"}},
            });
            if let Some(b) = body {
                o["requestBody"] = b;
            }
            o
        };
        let base = if t.namespaced {
            format!("{prefix}/namespaces/{{namespace}}/{}", t.plural)
        } else {
            format!("{prefix}/{}", t.plural)
        };
        paths.insert(
            base.clone(),
            json!({"post": op("post", Some(json!({"content": {"application/json": {"schema": {"type": "object"}}}, "required": true})))}),
        );
        paths.insert(
            format!("{base}/{{name}}"),
            json!({
                "put": op("put", Some(json!({"content": {"application/json": {"schema": {"type": "object"}}}, "required": true}))),
                "patch": op("patch", Some(json!({"content": content, "required": true}))),
            }),
        );
    }
    Ok(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes", "version": sim.cfg.git_version},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

const AGGREGATED_V2: &str = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList";

fn wants_aggregated(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|a| {
            let a: String = a.chars().filter(|c| !c.is_whitespace()).collect();
            a.contains("g=apidiscovery.k8s.io")
                && a.contains("v=v2;")
                && a.contains("as=APIGroupDiscoveryList")
                || a.ends_with("v=v2") && a.contains("as=APIGroupDiscoveryList")
        })
}

/// Aggregated discovery (apidiscovery.k8s.io/v2) for `/api` (core) or `/apis`.
fn aggregated_discovery(sim: &Sim, core: bool) -> Response {
    let reg = sim.registry.read();
    let groups: Vec<(String, Vec<String>)> = if core {
        vec![(String::new(), vec!["v1".to_string()])]
    } else {
        reg.groups()
    };
    let items: Vec<Value> = groups
        .iter()
        .map(|(g, vs)| {
            let versions: Vec<Value> = vs
                .iter()
                .map(|v| {
                    let resources: Vec<Value> = reg
                        .types
                        .iter()
                        .filter(|t| &t.group == g && t.versions.iter().any(|x| x == v))
                        .map(|t| {
                            let rk = json!({"group": g, "version": v, "kind": t.kind});
                            let mut subs = vec![];
                            if t.status {
                                subs.push(json!({"subresource": "status", "responseKind": rk, "verbs": ["get", "patch", "update"]}));
                            }
                            if t.scale {
                                subs.push(json!({"subresource": "scale", "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}, "verbs": ["get", "patch", "update"]}));
                            }
                            if g.is_empty() && t.plural == "pods" {
                                subs.push(json!({"subresource": "log", "responseKind": {"group": "", "version": "", "kind": "Pod"}, "verbs": ["get"]}));
                            }
                            let mut r = json!({
                                "resource": t.plural,
                                "responseKind": rk,
                                "scope": if t.namespaced { "Namespaced" } else { "Cluster" },
                                "singularResource": t.singular,
                                "verbs": t.verbs,
                            });
                            if !t.short_names.is_empty() {
                                r["shortNames"] = json!(t.short_names);
                            }
                            if !t.categories.is_empty() {
                                r["categories"] = json!(t.categories);
                            }
                            if !subs.is_empty() {
                                r["subresources"] = json!(subs);
                            }
                            r
                        })
                        .collect();
                    json!({"version": v, "resources": resources, "freshness": "Current"})
                })
                .collect();
            let mut meta = json!({"creationTimestamp": null});
            if !g.is_empty() {
                meta["name"] = json!(g);
            }
            json!({"metadata": meta, "versions": versions})
        })
        .collect();
    let body = json!({"kind": "APIGroupDiscoveryList", "apiVersion": "apidiscovery.k8s.io/v2", "metadata": {}, "items": items});
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, AGGREGATED_V2), (header::VARY, "Accept")],
        body.to_string(),
    )
        .into_response()
}

fn delete_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<u8>> {
    if content_type(headers).starts_with(crate::protobuf::CONTENT_TYPE) && !body.is_empty() {
        let v = crate::protobuf::decode(body).map_err(ApiError::bad_request)?;
        return Ok(v.to_string().into_bytes());
    }
    Ok(body.to_vec())
}
