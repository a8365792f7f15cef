//! HTTP routing: authentication, then discovery (`discovery.rs`) or a resource request,
//! resolved to its type, namespace, name and subresource, authorized, and dispatched to the
//! handlers of collections and objects (`objects.rs`), subresources (`subresources.rs`) and
//! watches (`watch.rs`).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{Query, Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use bytes::Bytes;
use serde_json::Value;

use crate::Sim;
use crate::errors::{ApiError, ApiResult};
use crate::ops::{self, DeleteOpts, ListOpts, WriteOpts};
use crate::rbac::ServiceAccount;
use crate::registry::ResourceType;
use crate::store::Store;

mod discovery;
mod objects;
mod subresources;
mod watch;

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

    let incoming = Incoming {
        sim: &sim,
        who: who.as_ref(),
        method: &parts.method,
        q: &q,
        headers: &parts.headers,
        body,
    };
    route(&incoming, &path).unwrap_or_else(|e| error_response(&e))
}

/// An authenticated request with its body read.
struct Incoming<'a> {
    sim: &'a Arc<Sim>,
    who: Option<&'a ServiceAccount>,
    method: &'a Method,
    q: &'a Q,
    headers: &'a HeaderMap,
    body: Bytes,
}

/// A resource request: the incoming request, what its path names, and the write options its
/// query asks for.
struct Call<'a> {
    sim: &'a Arc<Sim>,
    method: &'a Method,
    q: &'a Q,
    headers: &'a HeaderMap,
    body: &'a Bytes,
    rt: ResourceType,
    version: String,
    /// The namespace in the path, if any.
    ns: Option<&'a str>,
    dry_run: bool,
    manager: String,
}

impl Call<'_> {
    /// The namespace for an object request ("" for cluster-scoped types).
    fn ns_str(&self) -> &str {
        self.ns.unwrap_or("")
    }

    fn wopts(&self, sub: Option<&str>) -> WriteOpts {
        WriteOpts {
            dry_run: self.dry_run,
            manager: self.manager.clone(),
            manager_explicit: self.q.contains_key("fieldManager"),
            force: q_bool(self.q, "force"),
            subresource: sub.map(str::to_string),
        }
    }

    fn delete_opts(&self) -> ApiResult<DeleteOpts> {
        let mut dopts = DeleteOpts {
            dry_run: self.dry_run,
            propagation: self.q.get("propagationPolicy").cloned(),
            precondition_uid: None,
            precondition_rv: None,
        };
        dopts.merge_body(&delete_body(self.headers, self.body)?)?;
        Ok(dopts)
    }

    /// The context of a verb on this request's type and version, with the store locked.
    fn op<'s>(&'s self, st: &'s mut Store) -> ops::Op<'s> {
        ops::Op {
            sim: self.sim,
            st,
            rt: &self.rt,
            version: &self.version,
        }
    }

    fn not_found(&self, name: &str) -> ApiError {
        ApiError::not_found(&self.rt.group, &self.rt.plural, name)
    }
}

/// What the path of a resource request names, below its group-version.
struct Target<'p> {
    rt: ResourceType,
    ns: Option<&'p str>,
    name: Option<&'p str>,
    sub: Option<&'p str>,
}

fn route(req: &Incoming, path: &str) -> ApiResult<Response> {
    let sim = req.sim;
    let path = path.trim_end_matches('/');
    if let Some(r) = discovery::serve(sim, path, req.headers) {
        return r;
    }
    let (group, version, rest) = if let Some(r) = path.strip_prefix("/api/v1") {
        if !(r.is_empty() || r.starts_with('/')) {
            return Err(ApiError::no_route());
        }
        ("", "v1", r)
    } else if let Some(r) = path.strip_prefix("/apis/") {
        let mut it = r.splitn(3, '/');
        let g = it.next().unwrap_or("");
        match it.next() {
            None => return discovery::api_group(sim, g).map(|v| json_response(200, &v)),
            Some(v) => (g, v, it.next().unwrap_or("")),
        }
    } else {
        return Err(ApiError::no_route());
    };
    let segs: Vec<&str> = rest.split('/').filter(|s| !s.is_empty()).collect();
    if segs.is_empty() {
        return discovery::resource_list(sim, group, version).map(|v| json_response(200, &v));
    }
    let target = resolve(sim, group, version, &segs)?;
    authorize(req, &target)?;
    let call = Call {
        sim,
        method: req.method,
        q: req.q,
        headers: req.headers,
        body: &req.body,
        dry_run: dry_run(req.q)?,
        manager: req
            .q
            .get("fieldManager")
            .cloned()
            .unwrap_or_else(|| default_manager(req.headers)),
        rt: target.rt,
        version: version.to_string(),
        ns: target.ns,
    };
    dispatch(&call, target.name, target.sub)
}

/// The type, namespace, name and subresource named by the path segments after the
/// group-version; 404 for a path no type serves.
fn resolve<'p>(sim: &Sim, group: &str, version: &str, segs: &[&'p str]) -> ApiResult<Target<'p>> {
    // `namespaces/{name}/status` and `/finalize` are subresources of a namespace, not a
    // namespaced collection.
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
        .lookup(group, version, res)
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
    Ok(Target {
        rt,
        ns,
        name: tail.first().copied(),
        sub: tail.get(1).copied(),
    })
}

/// RBAC for a service account's token; the cluster's token may do anything.
fn authorize(req: &Incoming, t: &Target) -> ApiResult<()> {
    let Some(who) = req.who else {
        return Ok(());
    };
    let rt = &t.rt;
    let rreq = crate::rbac::Request {
        verb: crate::rbac::verb(req.method, t.name.is_some(), q_bool(req.q, "watch")),
        group: &rt.group,
        resource: &rt.plural,
        subresource: t.sub,
        // A request on a namespace object is in that namespace, as the apiserver sees it.
        namespace: if rt.plural == "namespaces" && rt.group.is_empty() {
            t.name.or(t.ns)
        } else {
            t.ns
        },
        name: t.name,
    };
    crate::rbac::authorize(&req.sim.store.lock(), who, &rreq)
}

/// `dryRun=All` (the only value the apiserver knows) or none.
fn dry_run(q: &Q) -> ApiResult<bool> {
    match q.get("dryRun").map(String::as_str) {
        Some("All") => Ok(true),
        None | Some("") => Ok(false),
        Some(d) => Err(ApiError::bad_request(format!(
            "Invalid dryRun value: {d}: supported values: \"All\""
        ))),
    }
}

fn dispatch(c: &Call, name: Option<&str>, sub: Option<&str>) -> ApiResult<Response> {
    let core = c.rt.group.is_empty();
    match (name, sub) {
        (None, None) => objects::collection(c),
        (Some(name), None) => objects::object(c, name),
        (Some(name), Some("status")) if c.rt.status => subresources::status(c, name),
        (Some(name), Some("scale")) if c.rt.scale => subresources::scale(c, name),
        (Some(name), Some("finalize")) if core && c.rt.plural == "namespaces" => {
            subresources::finalize(c, name)
        }
        (Some(name), Some("token")) if core && c.rt.plural == "serviceaccounts" => {
            subresources::token(c, name)
        }
        (Some(name), Some("log")) if core && c.rt.plural == "pods" => subresources::log(c, name),
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

fn delete_body(headers: &HeaderMap, body: &[u8]) -> ApiResult<Vec<u8>> {
    if content_type(headers).starts_with(crate::protobuf::CONTENT_TYPE) && !body.is_empty() {
        let v = crate::protobuf::decode(body).map_err(ApiError::bad_request)?;
        return Ok(v.to_string().into_bytes());
    }
    Ok(body.to_vec())
}
