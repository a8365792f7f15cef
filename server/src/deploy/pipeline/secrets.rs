//! The image pull secret: made from the project's Docker registry's credentials, and in a shared
//! namespace shared by the versions there, so it is checked and removed with care.

use super::*;

/// The registry's pull secret in a shared namespace is shared by every version there.
pub(super) fn is_shared_secret(m: &Manifest) -> bool {
    m.kind == "Secret" && m.release.is_empty()
}

impl Run<'_> {
    /// The image pull secret for the project's registry, when it has credentials.
    pub async fn pull_secret(&self, name: &str) -> Result<Option<Manifest>, String> {
        let (p, namespace, shared) = (self.p, self.namespace.as_str(), self.shared);
        if name.is_empty() {
            return Ok(None);
        }
        let conn = self
            .d
            .registries
            .connection(p.docker_registry_id)
            .await
            .map_err(|e| format!("reading the registry's credentials failed: {e}"))?;
        let host = conn
            .url
            .split_once("://")
            .map_or(conn.url.as_str(), |(_, h)| h)
            .trim_end_matches('/')
            .to_owned();
        let auth = match &conn.auth {
            Credentials::Basic(user, password) => json!({
                "username": user,
                "password": password,
                "auth": base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")),
            }),
            Credentials::Token(t) => json!({ "registrytoken": t }),
            Credentials::Anonymous => return Ok(None),
        };
        let config = json!({ "auths": { host: auth } });
        // In a shared namespace the secret belongs to no single version.
        let mut labels: BTreeMap<String, String> = if shared {
            BTreeMap::from([(MANAGED_BY.0.to_string(), MANAGED_BY.1.to_string())])
        } else {
            self.labels(None)
        };
        labels.insert(LABEL_REGISTRY.to_string(), p.docker_registry_id.to_string());
        let object = json!({
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": { "name": name, "namespace": namespace, "labels": labels },
            "type": "kubernetes.io/dockerconfigjson",
            "data": { ".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(config.to_string()) },
        });
        Ok(Some(Manifest {
            release: String::new(),
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: name.to_owned(),
            namespace: Some(namespace.to_owned()),
            hook: None,
            object,
        }))
    }

    /// Refuses a shared namespace's pull secret that holds another registry's credentials.
    pub async fn same_registry_or_free(&self, r: &ObjectRef) -> Result<(), String> {
        let registry = self.p.docker_registry_id;
        match self.applier.label_of(r, LABEL_REGISTRY).await? {
            Some(Some(other)) if other != registry.to_string() => Err(format!(
                "{} in namespace {} holds the credentials of another Docker registry (id {other}) whose name reads the same; rename one of the two registries",
                r.describe(),
                r.namespace.as_deref().unwrap_or_default()
            )),
            _ => Ok(()),
        }
    }

    /// Deletes this registry's pull secret from a shared namespace (when it is O-Neko's, and not
    /// another registry's of the same name).
    pub async fn remove_shared_pull_secret(&self, name: &str) -> Result<(), String> {
        let (applier, namespace, registry) =
            (&self.applier, self.namespace.as_str(), self.p.docker_registry_id);
        let r = ObjectRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            namespace: Some(namespace.to_owned()),
            name: name.to_owned(),
        };
        let Some(found) = applier.get(&r).await? else {
            return Ok(());
        };
        let labels = found.metadata.labels.unwrap_or_default();
        let ours = labels.get(MANAGED_BY.0).map(String::as_str) == Some(MANAGED_BY.1)
            && labels
                .get(LABEL_REGISTRY)
                .is_none_or(|id| *id == registry.to_string());
        if ours { applier.delete(&r).await } else { Ok(()) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn only_the_registry_secret_is_shared() {
        let m = |kind: &str, release: &str| Manifest {
            release: release.into(),
            api_version: "v1".into(),
            kind: kind.into(),
            name: "x".into(),
            namespace: None,
            hook: None,
            object: Value::Null,
        };
        assert!(is_shared_secret(&m("Secret", "")));
        assert!(!is_shared_secret(&m("Secret", "web")));
        assert!(!is_shared_secret(&m("ConfigMap", "")));
    }
}
