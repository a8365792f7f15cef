//! Docker registries: administration (with secrets sealed at rest) and connection checks.
//! `tags` reads tags and digests; the poller that turns them into project versions is not built yet.

pub mod check;
pub mod tags;
pub mod tls;

use crate::{
    activity::{self, Entry},
    auth::Validator,
    db::entity::{
        docker_registry::{self, secret_context, webhook_secret_context},
        project,
    },
    error::Doing,
    secrets::SecretBox,
};
use app::{
    error::AppError,
    model::{
        ConnectionCheck, CurrentUser, DockerRegistry, DockerRegistryId, DockerRegistryInput, RegistryAuth,
        RegistryName, Severity,
    },
    ssr::Registries,
};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};

/// Longest accepted password or token.
const MAX_SECRET: usize = 8192;

fn to_model(m: docker_registry::Model) -> DockerRegistry {
    DockerRegistry {
        id: DockerRegistryId(m.id),
        auth: m.auth.parse().unwrap_or(RegistryAuth::Anonymous),
        secret_set: m.secret.is_some(),
        name: m.name,
        url: m.url,
        insecure_http: m.insecure_http,
        username: m.username,
        ca_pem: m.ca_pem,
        skip_tls_verify: m.skip_tls_verify,
        webhook_path: m.webhook_token.as_ref().map(|t| format!("/hooks/registry/{t}")),
        webhook_secret_set: m.webhook_secret.is_some(),
        copy_pull_secret: m.copy_pull_secret,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// A validated form.
struct Valid {
    name: String,
    url: String,
    auth: RegistryAuth,
    username: Option<String>,
    ca_pem: Option<String>,
}

/// Where credentials go: the URL's host and port. A secret stored for one is never sent to
/// another without being entered again. `oci://` counts as https.
pub(crate) fn credential_origin(url: &str) -> Option<(String, u16)> {
    let url = match url.strip_prefix("oci://") {
        Some(rest) => format!("https://{rest}"),
        None => url.to_owned(),
    };
    let u = reqwest::Url::parse(&url).ok()?;
    Some((u.host_str()?.to_ascii_lowercase(), u.port_or_known_default()?))
}

/// Whether a secret stored for `old` may stay when the URL becomes `new`: same host and port.
pub(crate) fn same_credential_origin(old: &str, new: &str) -> bool {
    credential_origin(old).is_some_and(|o| Some(o) == credential_origin(new))
}

/// The field error when a stored secret would follow the URL to another host.
pub(crate) fn secret_for_new_url(what: &str) -> String {
    format!(
        "The URL now points to another host: enter the {what} again for the new URL (the stored one is not sent there)."
    )
}

/// Checks the form; `stored_secret` is the URL a stored secret was given for (`None`: no
/// secret is stored). It is kept only while the URL stays on that host and port.
fn validate(input: &DockerRegistryInput, stored_secret: Option<&str>) -> Result<Valid, AppError> {
    let mut v = Validator::default();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        v.fail("name", "Enter a name.");
    } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
        v.fail("name", "At most 100 characters, no control characters.");
    }
    let url = input.url.trim().trim_end_matches('/').to_owned();
    match reqwest::Url::parse(&url) {
        Err(_) => v.fail(
            "url",
            "Enter the registry's base URL, e.g. https://registry.example.com",
        ),
        Ok(u) => {
            if u.scheme() == "http" && !input.insecure_http {
                v.fail(
                    "url",
                    "Plain http needs the \"insecure HTTP\" switch; prefer https.",
                );
            } else if u.scheme() != "https" && u.scheme() != "http" {
                v.fail("url", "Use an https:// (or, explicitly insecure, http://) URL.");
            } else if !u.username().is_empty() || u.password().is_some() {
                v.fail("url", "Put credentials in the credential fields, not in the URL.");
            } else if u.query().is_some() || u.fragment().is_some() || u.host_str().is_none() {
                v.fail("url", "A base URL has a host and no query or fragment.");
            }
        }
    }
    let auth = match input.auth.parse::<RegistryAuth>() {
        Ok(a) => Some(a),
        Err(e) => {
            v.fail("auth", e);
            None
        }
    };
    let username = input.username.trim().to_owned();
    let new_secret = input.secret.as_deref().filter(|s| !s.is_empty());
    if new_secret.is_some_and(|s| s.chars().count() > MAX_SECRET) {
        v.fail("secret", format!("At most {MAX_SECRET} characters."));
    }
    // (A URL that is no URL has its own error.)
    let moved = stored_secret
        .is_some_and(|old| credential_origin(&url).is_some() && !same_credential_origin(old, &url));
    let has_secret = new_secret.is_some() || (stored_secret.is_some() && !moved);
    match auth {
        Some(RegistryAuth::Basic) => {
            if username.is_empty() {
                v.fail("username", "Enter the username.");
            }
            if !has_secret {
                v.fail(
                    "secret",
                    if moved {
                        secret_for_new_url("password")
                    } else {
                        "Enter the password.".into()
                    },
                );
            }
        }
        Some(RegistryAuth::Token) if !has_secret => v.fail(
            "secret",
            if moved {
                secret_for_new_url("token")
            } else {
                "Enter the token.".into()
            },
        ),
        _ => {}
    }
    if let Some(w) = input.webhook_secret.as_deref().filter(|s| !s.is_empty())
        && !(16..=512).contains(&w.chars().count())
    {
        v.fail("webhook_secret", "Between 16 and 512 characters.");
    }
    let ca_pem = input.ca_pem.trim().to_owned();
    if !ca_pem.is_empty() && !is_pem_certificate(&ca_pem) {
        v.fail(
            "ca_pem",
            "Paste a PEM certificate (-----BEGIN CERTIFICATE----- …).",
        );
    }
    v.finish()?;
    Ok(Valid {
        name,
        url,
        auth: auth.unwrap_or(RegistryAuth::Anonymous),
        username: (auth == Some(RegistryAuth::Basic)).then_some(username),
        ca_pem: (!ca_pem.is_empty()).then_some(ca_pem),
    })
}

/// Registries stored in the database, secrets sealed with the installation key.
pub struct SqlRegistries {
    pub db: DatabaseConnection,
    pub secrets: SecretBox,
}

impl SqlRegistries {
    /// Everything needed to talk to registry `id`, secret decrypted.
    pub async fn connection(&self, id: i64) -> Result<check::RegistryConn, AppError> {
        let m = docker_registry::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .doing("reading registry")?
            .ok_or_else(|| AppError::not_found(format!("Docker registry {id}")))?;
        let secret = match &m.secret {
            Some(sealed) => Some(
                self.secrets
                    .open(sealed, &secret_context(m.id))
                    .doing("decrypting registry secret")?,
            ),
            None => None,
        };
        let auth = match (m.auth.parse().unwrap_or(RegistryAuth::Anonymous), secret) {
            (RegistryAuth::Basic, Some(p)) => {
                check::Credentials::Basic(m.username.clone().unwrap_or_default(), p)
            }
            (RegistryAuth::Token, Some(t)) => check::Credentials::Token(t),
            _ => check::Credentials::Anonymous,
        };
        Ok(check::RegistryConn {
            url: m.url,
            ca_pem: m.ca_pem,
            skip_tls_verify: m.skip_tls_verify,
            auth,
        })
    }
}

impl SqlRegistries {
    /// A new registry's row, its secrets sealed for its id; and the activity message.
    async fn create(
        &self,
        txn: &sea_orm::DatabaseTransaction,
        valid: &Valid,
        input: &DockerRegistryInput,
        new_secret: Option<&str>,
        new_webhook: Option<&str>,
    ) -> Result<(docker_registry::Model, String), AppError> {
        let now = Utc::now();
        let am = docker_registry::ActiveModel {
            name: Set(valid.name.clone()),
            url: Set(valid.url.clone()),
            insecure_http: Set(input.insecure_http),
            auth: Set(valid.auth.as_str().into()),
            username: Set(valid.username.clone()),
            secret: Set(None),
            ca_pem: Set(valid.ca_pem.clone()),
            skip_tls_verify: Set(input.skip_tls_verify),
            webhook_token: Set(Some(new_webhook_token())),
            webhook_secret: Set(None),
            copy_pull_secret: Set(input.copy_pull_secret.unwrap_or(false)),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        let m = am.insert(txn).await.doing("saving registry")?;
        // The id is part of the secrets' context, so seal after the insert.
        let sealed = match (new_secret, valid.auth) {
            (Some(s), RegistryAuth::Basic | RegistryAuth::Token) => {
                Some(self.secrets.seal(s, &secret_context(m.id)))
            }
            _ => None,
        };
        let webhook = new_webhook.map(|w| self.secrets.seal(w, &webhook_secret_context(m.id)));
        let m = if sealed.is_some() || webhook.is_some() {
            let mut am: docker_registry::ActiveModel = m.into();
            am.secret = Set(sealed);
            am.webhook_secret = Set(webhook);
            am.update(txn).await.doing("saving registry")?
        } else {
            m
        };
        let message = format!(
            "Registry {} ({}) created, credentials: {}, copied into deployments: {}",
            m.name,
            m.url,
            valid.auth.label(),
            on_off(m.copy_pull_secret)
        );
        Ok((m, message))
    }

    /// The registry's webhook secret, decrypted; `None` when none is set.
    pub async fn webhook_secret(&self, m: &docker_registry::Model) -> Result<Option<String>, String> {
        match &m.webhook_secret {
            Some(sealed) => self
                .secrets
                .open(sealed, &webhook_secret_context(m.id))
                .map(Some)
                .map_err(|e| e.to_string()),
            None => Ok(None),
        }
    }
}

#[async_trait::async_trait]
impl Registries for SqlRegistries {
    async fn list(&self) -> Result<Vec<DockerRegistry>, AppError> {
        let all = docker_registry::Entity::find()
            .order_by_asc(docker_registry::Column::Name)
            .all(&self.db)
            .await
            .doing("listing registries")?;
        Ok(all.into_iter().map(to_model).collect())
    }

    async fn names(&self) -> Result<Vec<RegistryName>, AppError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|r| RegistryName {
                id: r.id,
                name: r.name,
            })
            .collect())
    }

    async fn save(
        &self,
        actor: &CurrentUser,
        input: DockerRegistryInput,
    ) -> Result<DockerRegistry, AppError> {
        let txn = crate::db::begin_write(&self.db).await.doing("saving registry")?;
        let existing = match input.id {
            Some(id) => Some(
                docker_registry::Entity::find_by_id(id.0)
                    .one(&txn)
                    .await
                    .doing("saving registry")?
                    .ok_or_else(|| AppError::not_found(format!("Docker registry {}", id.0)))?,
            ),
            None => None,
        };
        let valid = validate(
            &input,
            existing
                .as_ref()
                .filter(|m| m.secret.is_some())
                .map(|m| m.url.as_str()),
        )?;
        let columns = (docker_registry::Column::Name, docker_registry::Column::Id);
        let own = existing.as_ref().map(|m| m.id);
        crate::db::refuse_taken_name::<docker_registry::Entity, _>(
            &txn,
            columns,
            &valid.name,
            own,
            "A registry",
        )
        .await?;
        let now = Utc::now();
        let new_secret = input.secret.clone().filter(|s| !s.is_empty());
        let new_webhook = input.webhook_secret.clone().filter(|s| !s.is_empty());
        let (saved, kind, message) = match existing {
            None => {
                let (m, message) = self
                    .create(
                        &txn,
                        &valid,
                        &input,
                        new_secret.as_deref(),
                        new_webhook.as_deref(),
                    )
                    .await?;
                (m, "docker_registry.created", message)
            }
            Some(old) => {
                let copy_pull_secret = input.copy_pull_secret.unwrap_or(old.copy_pull_secret);
                let mut changes = changes(&old, &valid, &input, copy_pull_secret);
                let secret = match valid.auth {
                    RegistryAuth::Anonymous => None,
                    _ => match &new_secret {
                        Some(s) => {
                            changes.push("secret replaced".into());
                            Some(self.secrets.seal(s, &secret_context(old.id)))
                        }
                        None => old.secret.clone(),
                    },
                };
                let webhook_secret = match &new_webhook {
                    Some(w) => {
                        changes.push("webhook secret replaced".into());
                        Some(self.secrets.seal(w, &webhook_secret_context(old.id)))
                    }
                    None => old.webhook_secret.clone(),
                };
                let webhook_token = old.webhook_token.clone().unwrap_or_else(new_webhook_token);
                let mut am: docker_registry::ActiveModel = old.into();
                am.webhook_secret = Set(webhook_secret);
                am.webhook_token = Set(Some(webhook_token));
                am.name = Set(valid.name.clone());
                am.url = Set(valid.url.clone());
                am.insecure_http = Set(input.insecure_http);
                am.auth = Set(valid.auth.as_str().into());
                am.username = Set(valid.username.clone());
                am.secret = Set(secret);
                am.ca_pem = Set(valid.ca_pem.clone());
                am.skip_tls_verify = Set(input.skip_tls_verify);
                am.copy_pull_secret = Set(copy_pull_secret);
                am.updated_at = Set(now);
                let m = am.update(&txn).await.doing("saving registry")?;
                let what = if changes.is_empty() {
                    "nothing changed".to_string()
                } else {
                    changes.join(", ")
                };
                (
                    m.clone(),
                    "docker_registry.changed",
                    format!("Registry {} changed: {what}", m.name),
                )
            }
        };
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind,
                subject: &saved.name,
                message,
                severity: Severity::Info,
                project: None,
            },
        )
        .await
        .doing("saving registry")?;
        txn.commit().await.doing("saving registry")?;
        tracing::info!(actor = %actor.username, registry = %saved.name, kind, "registry saved");
        Ok(to_model(saved))
    }

    async fn delete(&self, actor: &CurrentUser, id: DockerRegistryId) -> Result<(), AppError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("deleting registry")?;
        let m = docker_registry::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("deleting registry")?
            .ok_or_else(|| AppError::not_found(format!("Docker registry {}", id.0)))?;
        let users: Vec<String> = project::Entity::find()
            .filter(project::Column::DockerRegistryId.eq(id.0))
            .order_by_asc(project::Column::Name)
            .all(&txn)
            .await
            .doing("deleting registry")?
            .into_iter()
            .map(|p| p.name)
            .collect();
        if !users.is_empty() {
            return Err(AppError::Conflict {
                message: format!(
                    "Registry {} is used by these projects: {}. Move them to another registry or delete them first.",
                    m.name,
                    users.join(", ")
                ),
            });
        }
        docker_registry::Entity::delete_by_id(id.0)
            .exec(&txn)
            .await
            .doing("deleting registry")?;
        activity::record(
            &txn,
            Entry {
                actor: &actor.actor(),
                kind: "docker_registry.deleted",
                subject: &m.name,
                message: format!("Registry {} ({}) deleted", m.name, m.url),
                severity: Severity::Info,
                project: None,
            },
        )
        .await
        .doing("deleting registry")?;
        txn.commit().await.doing("deleting registry")?;
        Ok(())
    }

    async fn check(&self, id: DockerRegistryId) -> Result<ConnectionCheck, AppError> {
        let conn = self.connection(id.0).await?;
        Ok(check::check(&conn).await)
    }
}

/// Whether `pem` holds at least one certificate and nothing unreadable (checked by parsing
/// each certificate into a trust store, as the TLS client will).
pub(crate) fn is_pem_certificate(pem: &str) -> bool {
    use rustls::pki_types::{CertificateDer, pem::PemObject};
    let mut store = rustls::RootCertStore::empty();
    let mut found = false;
    for cert in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        let Ok(cert) = cert else { return false };
        if store.add(cert).is_err() {
            return false;
        }
        found = true;
    }
    found
}

/// Reads an answer's body, refusing more than `limit` bytes: chunk by chunk, so a larger (or
/// endless) answer is never held in memory. Every body O-Neko reads from a registry, token
/// service or bucket goes through here.
pub(crate) async fn read_limited(mut resp: reqwest::Response, limit: usize) -> Result<Vec<u8>, String> {
    let too_large = || {
        let size = if limit >= 1 << 20 {
            format!("{} MiB", limit >> 20)
        } else {
            format!("{} KiB", limit >> 10)
        };
        format!("the answer is larger than {size}, so it was not read")
    };
    if resp.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large());
    }
    let mut out = vec![];
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| format!("reading the answer: {e}"))?
    {
        if out.len() + chunk.len() > limit {
            return Err(too_large());
        }
        out.extend_from_slice(&chunk);
    }
    Ok(out)
}

/// What a form changes of a registry, besides its secrets, for the activity log.
fn changes(
    old: &docker_registry::Model,
    valid: &Valid,
    input: &DockerRegistryInput,
    copy_pull_secret: bool,
) -> Vec<String> {
    let mut changes = vec![];
    if old.name != valid.name {
        changes.push(format!("name {} → {}", old.name, valid.name));
    }
    if old.url != valid.url {
        changes.push(format!("URL {} → {}", old.url, valid.url));
    }
    if old.insecure_http != input.insecure_http {
        changes.push(format!("insecure HTTP {}", on_off(input.insecure_http)));
    }
    if old.auth != valid.auth.as_str() {
        changes.push(format!("credentials {}", valid.auth.label()));
    }
    if old.username != valid.username {
        changes.push("username changed".into());
    }
    if old.ca_pem != valid.ca_pem {
        changes.push("CA certificate changed".into());
    }
    if old.skip_tls_verify != input.skip_tls_verify {
        changes.push(format!("skip TLS verification {}", on_off(input.skip_tls_verify)));
    }
    if old.copy_pull_secret != copy_pull_secret {
        changes.push(format!(
            "credentials copied into deployments {}",
            on_off(copy_pull_secret)
        ));
    }
    changes
}

/// A random, unguessable webhook URL token.
fn new_webhook_token() -> String {
    use rand::Rng;
    let bytes: [u8; 18] = rand::rng().random();
    hex::encode(bytes)
}

fn on_off(b: bool) -> &'static str {
    if b { "on" } else { "off" }
}
