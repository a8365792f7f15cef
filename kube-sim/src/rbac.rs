//! Service-account tokens and RBAC, so a test can run a client with exactly the permissions a
//! chart's Roles and ClusterRoles grant, as the real apiserver would.
//!
//! The cluster's own token (the kubeconfig's) stays all-powerful, like `system:masters`. A token
//! from the TokenRequest API (`POST …/serviceaccounts/<name>/token`) is the service account
//! `system:serviceaccount:<ns>:<name>`: every resource request it makes is checked against the
//! RoleBindings and ClusterRoleBindings naming it (as a ServiceAccount, a User, or the groups
//! `system:serviceaccounts`, `system:serviceaccounts:<ns>` and `system:authenticated`).
//! Non-resource URLs (discovery, `/version`, OpenAPI) are open to every authenticated client, as
//! the default `system:discovery` binding makes them.

use serde_json::{Value, json};

use crate::Sim;
use crate::errors::{ApiError, qualified};
use crate::ops::meta_str;
use crate::store::Store;

/// A service account a token stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceAccount {
    pub namespace: String,
    pub name: String,
}

impl ServiceAccount {
    pub fn user(&self) -> String {
        format!("system:serviceaccount:{}:{}", self.namespace, self.name)
    }
}

/// What a request asks to do, in RBAC's terms.
pub struct Request<'a> {
    pub verb: &'a str,
    pub group: &'a str,
    pub resource: &'a str,
    pub subresource: Option<&'a str>,
    /// `None` for cluster-scoped resources and for lists across all namespaces.
    pub namespace: Option<&'a str>,
    pub name: Option<&'a str>,
}

/// The RBAC verb of an HTTP method on a resource path.
pub fn verb(method: &axum::http::Method, named: bool, watch: bool) -> &'static str {
    use axum::http::Method;
    match (method.clone(), named) {
        (Method::GET | Method::HEAD, _) if watch => "watch",
        (Method::GET | Method::HEAD, true) => "get",
        (Method::GET | Method::HEAD, false) => "list",
        (Method::POST, _) => "create",
        (Method::PUT, _) => "update",
        (Method::PATCH, _) => "patch",
        (Method::DELETE, true) => "delete",
        (Method::DELETE, false) => "deletecollection",
        _ => "unknown",
    }
}

/// Issues a token for a service account that exists (the TokenRequest API).
pub fn issue_token(sim: &Sim, namespace: &str, name: &str) -> Result<String, ApiError> {
    if sim
        .store
        .lock()
        .get("/serviceaccounts", namespace, name)
        .is_none()
    {
        return Err(ApiError::not_found("", "serviceaccounts", name));
    }
    let token = format!("kube-sim-sa.{}", crate::random_token());
    sim.service_account_tokens.lock().insert(
        token.clone(),
        ServiceAccount {
            namespace: namespace.into(),
            name: name.into(),
        },
    );
    Ok(token)
}

/// The TokenRequest answer for `token`.
pub fn token_request(namespace: &str, name: &str, body: &Value, token: &str) -> Value {
    let seconds = body
        .pointer("/spec/expirationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(3600);
    let now = chrono::Utc::now();
    json!({
        "kind": "TokenRequest",
        "apiVersion": "authentication.k8s.io/v1",
        "metadata": {"name": name, "namespace": namespace, "creationTimestamp": now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)},
        "spec": {"audiences": body.pointer("/spec/audiences").cloned().unwrap_or(json!([])), "expirationSeconds": seconds},
        "status": {
            "token": token,
            "expirationTimestamp": (now + chrono::Duration::seconds(seconds)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        },
    })
}

impl Request<'_> {
    /// `pods` or `pods/log`, as rules and messages name it.
    fn combined(&self) -> String {
        match self.subresource {
            Some(sub) => format!("{}/{sub}", self.resource),
            None => self.resource.to_string(),
        }
    }
}

/// Allows `req` for `who` if a binding grants it, else the apiserver's 403.
pub fn authorize(store: &Store, who: &ServiceAccount, req: &Request) -> Result<(), ApiError> {
    if allowed(store, who, req) {
        return Ok(());
    }
    let resource = req.combined();
    let scope = match req.namespace {
        Some(ns) => format!("in the namespace \"{ns}\""),
        None => "at the cluster scope".into(),
    };
    let subject = match req.name {
        Some(n) => format!("{} \"{n}\"", qualified(req.group, req.resource)),
        None => qualified(req.group, req.resource),
    };
    let mut details = json!({"kind": req.resource});
    if let Some(n) = req.name {
        details["name"] = json!(n);
    }
    if !req.group.is_empty() {
        details["group"] = json!(req.group);
    }
    Err(ApiError::new(
        403,
        "Forbidden",
        format!(
            "{subject} is forbidden: User \"{}\" cannot {} resource \"{resource}\" in API group \"{}\" {scope}",
            who.user(),
            req.verb,
            req.group
        ),
    )
    .with_details(details))
}

fn allowed(store: &Store, who: &ServiceAccount, req: &Request) -> bool {
    let role_rules = |kind: &str, ns: &str, name: &str| -> Vec<Value> {
        let key = if kind == "ClusterRole" {
            "rbac.authorization.k8s.io/clusterroles"
        } else {
            "rbac.authorization.k8s.io/roles"
        };
        let ns = if kind == "ClusterRole" { "" } else { ns };
        store
            .get(key, ns, name)
            .and_then(|r| r.get("rules"))
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
    };
    let cluster_bindings = store.list("rbac.authorization.k8s.io/clusterrolebindings", None);
    for b in cluster_bindings {
        if names(b, who) && role_ref(b).0 == "ClusterRole" {
            let rules = role_rules("ClusterRole", "", role_ref(b).1);
            if rules.iter().any(|r| grants(r, req)) {
                return true;
            }
        }
    }
    // A RoleBinding grants only inside its own namespace.
    let Some(ns) = req.namespace else {
        return false;
    };
    for b in store.list("rbac.authorization.k8s.io/rolebindings", Some(ns)) {
        if names(b, who) {
            let (kind, name) = role_ref(b);
            if role_rules(kind, ns, name).iter().any(|r| grants(r, req)) {
                return true;
            }
        }
    }
    false
}

fn role_ref(binding: &Value) -> (&str, &str) {
    let r = &binding["roleRef"];
    (r["kind"].as_str().unwrap_or(""), r["name"].as_str().unwrap_or(""))
}

/// Whether a binding's subjects include the service account.
fn names(binding: &Value, who: &ServiceAccount) -> bool {
    let binding_ns = meta_str(binding, "namespace");
    binding["subjects"].as_array().into_iter().flatten().any(|s| {
        let name = s["name"].as_str().unwrap_or("");
        match s["kind"].as_str().unwrap_or("") {
            "ServiceAccount" => {
                // A RoleBinding's subject without a namespace means the binding's namespace.
                let ns = s["namespace"]
                    .as_str()
                    .filter(|n| !n.is_empty())
                    .unwrap_or(binding_ns);
                name == who.name && ns == who.namespace
            }
            "User" => name == who.user(),
            "Group" => {
                name == "system:serviceaccounts"
                    || name == "system:authenticated"
                    || name == format!("system:serviceaccounts:{}", who.namespace)
            }
            _ => false,
        }
    })
}

fn listed(rule: &Value, field: &str, wanted: &str) -> bool {
    rule[field]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|v| v == "*" || v == wanted)
}

/// Whether one PolicyRule grants the request (the apiserver's `ResourceMatches`: `*` is every
/// resource and every subresource, `*/scale` one subresource of every resource).
fn grants(rule: &Value, req: &Request) -> bool {
    let resource = req.combined();
    let resource_ok = rule["resources"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .any(|r| r == "*" || r == resource || req.subresource.is_some_and(|sub| r == format!("*/{sub}")));
    let names_ok = match rule["resourceNames"].as_array() {
        Some(names) if !names.is_empty() => req
            .name
            .is_some_and(|n| names.iter().any(|v| v.as_str() == Some(n))),
        _ => true,
    };
    listed(rule, "verbs", req.verb) && listed(rule, "apiGroups", req.group) && resource_ok && names_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req<'a>(verb: &'a str, group: &'a str, resource: &'a str, sub: Option<&'a str>) -> Request<'a> {
        Request {
            verb,
            group,
            resource,
            subresource: sub,
            namespace: Some("on-a"),
            name: Some("x"),
        }
    }

    #[test]
    fn rules_match_like_the_apiservers() {
        let rule = json!({"apiGroups": ["", "apps"], "resources": ["*"], "verbs": ["get", "patch"]});
        assert!(grants(&rule, &req("get", "apps", "deployments", None)));
        assert!(!grants(&rule, &req("delete", "apps", "deployments", None)));
        assert!(!grants(&rule, &req("get", "batch", "jobs", None)));
        // `*` is every resource and every subresource, as in Kubernetes.
        assert!(grants(&rule, &req("get", "", "pods", Some("exec"))));
        let scale = json!({"apiGroups": ["apps"], "resources": ["*/scale"], "verbs": ["patch"]});
        assert!(grants(
            &scale,
            &req("patch", "apps", "deployments", Some("scale"))
        ));
        assert!(!grants(&scale, &req("patch", "apps", "deployments", None)));
        let logs = json!({"apiGroups": [""], "resources": ["pods/log"], "verbs": ["get"]});
        assert!(grants(&logs, &req("get", "", "pods", Some("log"))));
        assert!(!grants(&logs, &req("get", "", "pods", None)));
        let named =
            json!({"apiGroups": [""], "resources": ["configmaps"], "verbs": ["*"], "resourceNames": ["y"]});
        assert!(!grants(&named, &req("get", "", "configmaps", None)));
    }
}
