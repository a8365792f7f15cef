//! Discovery: the root paths, `/version`, the API group and resource lists (legacy and
//! aggregated), and a minimal OpenAPI v3 — what kubectl, helm and kube-rs ask before any
//! resource request.

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use super::{json_response, text};
use crate::Sim;
use crate::errors::{ApiError, ApiResult};

/// Answers the paths outside `/api/v1` and `/apis/{group}/{version}`; `None` for a path that
/// names resources.
pub(super) fn serve(sim: &Sim, path: &str, headers: &HeaderMap) -> Option<ApiResult<Response>> {
    let ok = |v: Value| Some(Ok(json_response(200, &v)));
    match path {
        "" => return ok(root_paths(sim)),
        "/version" => return ok(version(sim)),
        "/healthz" | "/livez" | "/readyz" => return Some(Ok(text(StatusCode::OK, "ok"))),
        "/api" | "/apis" if wants_aggregated(headers) => {
            return Some(Ok(aggregated_discovery(sim, path == "/api")));
        }
        "/api" => return ok(api_versions(headers)),
        "/apis" => return ok(api_group_list(sim)),
        _ => {}
    }
    if path.starts_with("/healthz/") || path.starts_with("/livez/") || path.starts_with("/readyz/") {
        return Some(Ok(text(StatusCode::OK, "ok")));
    }
    if path == "/openapi/v3" {
        return ok(openapi_v3_root(sim));
    }
    if let Some(gv) = path.strip_prefix("/openapi/v3/") {
        return Some(openapi_v3_gv(sim, gv).map(|v| json_response(200, &v)));
    }
    if path.starts_with("/openapi/") || path == "/swagger.json" {
        return Some(Err(ApiError::no_route()));
    }
    None
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

pub(super) fn api_group(sim: &Sim, group: &str) -> ApiResult<Value> {
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

pub(super) fn resource_list(sim: &Sim, group: &str, version: &str) -> ApiResult<Value> {
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
