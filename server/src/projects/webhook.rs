//! `POST /hooks/registry/{token}`: push notifications from CNCF Distribution, Docker Hub, Harbor
//! or any sender of `{"repository": "...", "tag": "..."}`. The token in the path names the
//! registry; the call must prove the registry's webhook secret, by an HMAC-SHA256 of the body
//! (`X-Hub-Signature-256: sha256=<hex>`) or by sending the secret itself (`Authorization:
//! Bearer <secret>`, a bare `Authorization: <secret>` as Harbor sends it, or `?secret=` for
//! Docker Hub, which cannot set headers). Matching projects are polled at once.

use super::poller::Poller;
use crate::{
    db::entity::{docker_registry, project},
    registry::SqlRegistries,
};
use axum::{
    Json, Router,
    body::{Body, Bytes},
    extract::{Path, RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
    routing::post,
};
use sea_orm::{ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter};
use sha2::{Digest, Sha256};
use std::{collections::BTreeMap, sync::Arc};
use subtle::ConstantTimeEq;

/// Largest accepted notification body.
const MAX_BODY: usize = 1 << 20;
/// Actor of polls a webhook started.
pub const WEBHOOK: &str = "webhook";

/// What the webhook handler needs.
#[derive(Clone)]
pub struct Hooks {
    pub db: DatabaseConnection,
    pub registries: Arc<SqlRegistries>,
    pub poller: Arc<Poller>,
}

/// The webhook routes.
pub fn router(hooks: Hooks) -> Router {
    Router::new()
        .route("/hooks/registry/{token}", post(registry_hook))
        .with_state(hooks)
}

fn answer(status: StatusCode, message: &str) -> Response {
    (status, Json(serde_json::json!({ "error": message }))).into_response()
}

async fn registry_hook(
    State(hooks): State<Hooks>,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Body,
) -> Response {
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY).await else {
        return answer(StatusCode::PAYLOAD_TOO_LARGE, "the body is larger than 1 MiB");
    };
    let registry = match docker_registry::Entity::find()
        .filter(docker_registry::Column::WebhookToken.eq(token))
        .one(&hooks.db)
        .await
    {
        Ok(Some(r)) => r,
        Ok(None) => return answer(StatusCode::NOT_FOUND, "no such webhook"),
        Err(e) => {
            tracing::error!(error = %e, "webhook: reading registry failed");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let secret = match hooks.registries.webhook_secret(&registry).await {
        Ok(Some(s)) => s,
        Ok(None) => {
            return answer(
                StatusCode::UNAUTHORIZED,
                "webhooks are off for this registry: no webhook secret is set",
            );
        }
        Err(e) => {
            tracing::error!(error = %e, "webhook: opening the secret failed");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    if !authenticated(&secret, &headers, query.as_deref(), &body) {
        tracing::warn!(registry = %registry.name, "webhook call with a wrong or missing secret refused");
        return answer(StatusCode::UNAUTHORIZED, "wrong or missing webhook secret");
    }
    let pushes = match parse(&body) {
        Ok(p) => p,
        Err(e) => return answer(StatusCode::BAD_REQUEST, &e),
    };
    let projects = match project::Entity::find()
        .filter(project::Column::DockerRegistryId.eq(registry.id))
        .all(&hooks.db)
        .await
    {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(error = %e, "webhook: reading projects failed");
            return answer(StatusCode::INTERNAL_SERVER_ERROR, "internal error");
        }
    };
    let mut polled = vec![];
    for p in projects {
        let tags = pushes
            .iter()
            .filter(|(repo, _)| same_repository(repo, &p.image_repository))
            .map(|(_, tags)| tags.clone())
            .next();
        let Some(tags) = tags else { continue };
        polled.push(p.name.clone());
        // Queued within the poller's slots (and merged with a poll of the project that is still
        // waiting), never a task per notification.
        hooks.poller.queue(p.id, p.docker_registry_id, tags, WEBHOOK);
    }
    tracing::info!(registry = %registry.name, projects = ?polled, "webhook accepted");
    (
        StatusCode::ACCEPTED,
        [(header::CONTENT_TYPE, "application/json")],
        serde_json::json!({ "polling": polled }).to_string(),
    )
        .into_response()
}

/// Docker Hub names official images `library/x`; projects may say `x` or `library/x`.
fn same_repository(pushed: &str, project: &str) -> bool {
    pushed == project
        || pushed.strip_prefix("library/") == Some(project)
        || project.strip_prefix("library/") == Some(pushed)
}

/// Whether the call proves `secret`.
fn authenticated(secret: &str, headers: &HeaderMap, query: Option<&str>, body: &[u8]) -> bool {
    let eq = |given: &str| bool::from(given.as_bytes().ct_eq(secret.as_bytes()));
    for name in ["x-hub-signature-256", "x-oneko-signature-256"] {
        if let Some(sig) = headers.get(name).and_then(|v| v.to_str().ok()) {
            let expected = format!("sha256={}", hex::encode(hmac_sha256(secret.as_bytes(), body)));
            return bool::from(sig.trim().as_bytes().ct_eq(expected.as_bytes()));
        }
    }
    if let Some(auth) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()) {
        let given = auth.strip_prefix("Bearer ").unwrap_or(auth).trim();
        return eq(given);
    }
    if let Some(query) = query {
        for (k, v) in url::form_urlencoded::parse(query.as_bytes()) {
            if k == "secret" {
                return eq(&v);
            }
        }
    }
    false
}

/// HMAC-SHA256 (RFC 2104).
fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    const BLOCK: usize = 64;
    let mut k = [0u8; BLOCK];
    if key.len() > BLOCK {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let pad = |byte: u8| k.map(|b| b ^ byte);
    let inner = Sha256::new()
        .chain_update(pad(0x36))
        .chain_update(message)
        .finalize();
    Sha256::new()
        .chain_update(pad(0x5c))
        .chain_update(inner)
        .finalize()
        .into()
}

/// The repositories a notification names, with the tags it names in each.
fn parse(body: &Bytes) -> Result<Vec<(String, Vec<String>)>, String> {
    let v: serde_json::Value =
        serde_json::from_slice(body).map_err(|_| "the body is not JSON".to_string())?;
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut add = |repo: Option<&str>, tag: Option<&str>| {
        if let Some(repo) = repo.filter(|r| !r.is_empty()) {
            let tags = out.entry(repo.trim_matches('/').to_owned()).or_default();
            if let Some(tag) = tag.filter(|t| !t.is_empty()) {
                tags.push(tag.to_owned());
            }
        }
    };
    if let Some(events) = v["events"].as_array() {
        // CNCF Distribution's notification envelope.
        for e in events {
            add(e["target"]["repository"].as_str(), e["target"]["tag"].as_str());
        }
    } else if v.get("push_data").is_some() {
        // Docker Hub.
        add(
            v["repository"]["repo_name"].as_str(),
            v["push_data"]["tag"].as_str(),
        );
    } else if let Some(data) = v.get("event_data") {
        // Harbor.
        let repo = data["repository"]["repo_full_name"].as_str();
        match data["resources"].as_array() {
            Some(resources) if !resources.is_empty() => {
                for r in resources {
                    add(repo, r["tag"].as_str());
                }
            }
            _ => add(repo, None),
        }
    } else if let Some(repo) = v["repository"].as_str() {
        // Generic: {"repository": "team/app", "tag": "main"}.
        add(Some(repo), v["tag"].as_str());
    } else {
        return Err(
            "unrecognised notification: expected a Distribution, Docker Hub or Harbor body, or {\"repository\": ..., \"tag\": ...}"
                .into(),
        );
    }
    Ok(out.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc_4231_case_2() {
        assert_eq!(
            hex::encode(hmac_sha256(b"Jefe", b"what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
        // Case 6: a key longer than the block is hashed first.
        assert_eq!(
            hex::encode(hmac_sha256(
                &[0xaa; 131],
                b"Test Using Larger Than Block-Size Key - Hash Key First"
            )),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
        );
    }

    #[test]
    fn parses_every_sender() {
        let distribution = serde_json::json!({"events": [
            {"action": "push", "target": {"repository": "team/app", "tag": "main", "digest": "sha256:1"}},
            {"action": "push", "target": {"repository": "team/app", "digest": "sha256:2"}},
            {"action": "push", "target": {"repository": "team/other", "tag": "v1"}}]});
        assert_eq!(
            parse(&Bytes::from(distribution.to_string())).unwrap(),
            vec![
                ("team/app".into(), vec!["main".into()]),
                ("team/other".into(), vec!["v1".into()])
            ]
        );
        let hub = serde_json::json!({"push_data": {"tag": "latest"}, "repository": {"repo_name": "me/app"}});
        assert_eq!(
            parse(&Bytes::from(hub.to_string())).unwrap(),
            vec![("me/app".into(), vec!["latest".into()])]
        );
        let harbor = serde_json::json!({"type": "PUSH_ARTIFACT", "event_data": {
            "resources": [{"digest": "sha256:3", "tag": "v2"}],
            "repository": {"name": "app", "namespace": "proj", "repo_full_name": "proj/app"}}});
        assert_eq!(
            parse(&Bytes::from(harbor.to_string())).unwrap(),
            vec![("proj/app".into(), vec!["v2".into()])]
        );
        let generic = serde_json::json!({"repository": "a/b"});
        assert_eq!(
            parse(&Bytes::from(generic.to_string())).unwrap(),
            vec![("a/b".into(), vec![])]
        );
        assert!(parse(&Bytes::from_static(b"not json")).is_err());
        assert!(parse(&Bytes::from_static(b"{\"x\": 1}")).is_err());
    }

    #[test]
    fn secret_checks() {
        let body = b"{}";
        let mut h = HeaderMap::new();
        assert!(!authenticated("s3cret-s3cret-s3cret", &h, None, body));
        assert!(authenticated(
            "s3cret-s3cret-s3cret",
            &h,
            Some("secret=s3cret-s3cret-s3cret"),
            body
        ));
        assert!(!authenticated(
            "s3cret-s3cret-s3cret",
            &h,
            Some("secret=nope"),
            body
        ));
        h.insert(
            header::AUTHORIZATION,
            "Bearer s3cret-s3cret-s3cret".parse().unwrap(),
        );
        assert!(authenticated("s3cret-s3cret-s3cret", &h, None, body));
        h.insert(header::AUTHORIZATION, "s3cret-s3cret-s3cret".parse().unwrap());
        assert!(authenticated("s3cret-s3cret-s3cret", &h, None, body));
        h.insert(header::AUTHORIZATION, "Bearer wrong".parse().unwrap());
        assert!(!authenticated("s3cret-s3cret-s3cret", &h, None, body));
        let mut h = HeaderMap::new();
        let sig = format!(
            "sha256={}",
            hex::encode(hmac_sha256(b"k3y-k3y-k3y-k3y-k3y", body))
        );
        h.insert("x-hub-signature-256", sig.parse().unwrap());
        assert!(authenticated("k3y-k3y-k3y-k3y-k3y", &h, None, body));
        assert!(!authenticated(
            "k3y-k3y-k3y-k3y-k3y",
            &h,
            None,
            b"{\"tampered\":1}"
        ));
    }

    #[test]
    fn docker_hub_library_names() {
        assert!(same_repository("library/nginx", "nginx"));
        assert!(same_repository("nginx", "library/nginx"));
        assert!(!same_repository("team/nginx", "nginx"));
    }
}
