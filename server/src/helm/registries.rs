//! Helm registries: administration (secrets sealed at rest, like Docker registries), chart
//! listings for the chart picker (cached per registry for a minute, refreshable), and pulled
//! chart archives cached on disk by (registry, chart, version, digest).

use super::{
    HelmConfig, HelmCredentials, HelmRun, TemplateOpts,
    gcs::{self, GcsClient, ServiceAccountKey},
    index::{self, ChartIndex, Entry},
};
use crate::{
    activity,
    auth::Validator,
    db::entity::{
        helm_registry::{self, secret_context},
        project, project_version,
    },
    error::Doing,
    registry::{
        check::{Credentials, RegistryConn},
        is_pem_certificate,
        tags::{PAGE_SIZE, TagClient},
    },
    secrets::SecretBox,
};
use app::{
    error::AppError,
    model::{
        ChartList, CurrentUser, HelmRegistry, HelmRegistryId, HelmRegistryInput, HelmRegistryKind,
        HelmRegistryName, ProjectConfig, VersionOverrides,
    },
    ssr::HelmRegistries,
};
use chrono::{DateTime, Utc};
use futures::{StreamExt, stream};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait,
    QueryFilter, QueryOrder,
};
use sha2::Digest as _;
use std::{
    collections::HashMap,
    path::PathBuf,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

mod form;

use form::{changes, validate};

/// How long a chart listing is reused before the registry is asked again.
const LISTING_TTL: Duration = Duration::from_secs(60);
/// Versions per OCI chart whose metadata is read for the picker (newest first).
const OCI_VERSIONS: usize = 25;
/// Largest password or service-account key accepted.
const MAX_SECRET: usize = 16 << 10;
/// Largest chart archive read from a bucket.
const MAX_CHART: usize = 32 << 20;

/// Everything needed to reach one Helm registry, secret decrypted.
#[derive(Clone)]
pub struct HelmConn {
    pub id: i64,
    pub name: String,
    pub kind: HelmRegistryKind,
    pub url: String,
    pub username: Option<String>,
    pub secret: Option<String>,
    pub ca_pem: Option<String>,
    pub plain_http: bool,
    pub updated_at: DateTime<Utc>,
}

impl HelmConn {
    fn credentials(&self) -> Option<HelmCredentials> {
        match (&self.username, &self.secret) {
            (Some(u), Some(p)) if self.kind != HelmRegistryKind::Gcs => Some(HelmCredentials {
                username: u.clone(),
                password: p.clone(),
            }),
            _ => None,
        }
    }

    /// `oci://host/path` → (`host`, `path`).
    fn oci_parts(&self) -> (String, String) {
        let rest = self.url.trim_start_matches("oci://");
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        (host.to_owned(), path.trim_matches('/').to_owned())
    }

    fn oci_client(&self) -> Result<TagClient, String> {
        let (host, _) = self.oci_parts();
        let scheme = if self.plain_http { "http" } else { "https" };
        TagClient::new(&RegistryConn {
            url: format!("{scheme}://{host}"),
            ca_pem: self.ca_pem.clone(),
            skip_tls_verify: false,
            auth: match (&self.username, &self.secret) {
                (Some(u), Some(p)) => Credentials::Basic(u.clone(), p.clone()),
                _ => Credentials::Anonymous,
            },
        })
        .map_err(|e| e.0)
    }
}

/// A chart archive on disk and the exact version it is.
#[derive(Clone, Debug)]
pub struct PulledChart {
    pub path: PathBuf,
    pub version: String,
}

/// A client and the registry settings (by `updated_at`) it was made for.
type VersionedClient = (DateTime<Utc>, Arc<GcsClient>);

struct CachedListing {
    updated_at: DateTime<Utc>,
    fetched: Instant,
    fetched_at: DateTime<Utc>,
    index: Arc<ChartIndex>,
}

/// Helm registries stored in the database.
pub struct SqlHelmRegistries {
    db: DatabaseConnection,
    secrets: SecretBox,
    helm: HelmConfig,
    cache_dir: PathBuf,
    gcs_endpoint: String,
    listings: Mutex<HashMap<i64, CachedListing>>,
    /// One client per bucket registry, so its OAuth token is reused until it expires.
    gcs_clients: Mutex<HashMap<i64, VersionedClient>>,
}

fn to_model(m: helm_registry::Model) -> HelmRegistry {
    HelmRegistry {
        id: HelmRegistryId(m.id),
        kind: m.kind.parse().unwrap_or(HelmRegistryKind::Http),
        secret_set: m.secret.is_some(),
        name: m.name,
        url: m.url,
        username: m.username,
        ca_pem: m.ca_pem,
        plain_http: m.plain_http,
        created_at: m.created_at,
        updated_at: m.updated_at,
    }
}

/// The templates (of projects and of version overrides) that use Helm registry `id`.
async fn users_of<C: ConnectionTrait>(c: &C, id: i64) -> Result<Vec<String>, sea_orm::DbErr> {
    let projects = project::Entity::find()
        .order_by_asc(project::Column::Name)
        .all(c)
        .await?;
    let names: HashMap<i64, String> = projects.iter().map(|p| (p.id, p.name.clone())).collect();
    let mut out = vec![];
    for p in &projects {
        let config: ProjectConfig = crate::db::parse_stored(p.config.as_deref(), "project configuration");
        for t in config.templates.iter().filter(|t| t.helm_registry == Some(id)) {
            out.push(format!("project {} (template {})", p.name, t.name));
        }
    }
    let versions = project_version::Entity::find()
        .filter(project_version::Column::Overrides.is_not_null())
        .order_by_asc(project_version::Column::Name)
        .all(c)
        .await?;
    for v in versions {
        let o: VersionOverrides = crate::db::parse_stored(v.overrides.as_deref(), "version overrides");
        for t in o.templates.iter().filter(|t| t.helm_registry == Some(id)) {
            let project = names.get(&v.project_id).map_or("?", String::as_str);
            out.push(format!("version {project}:{} (template {})", v.name, t.name));
        }
    }
    Ok(out)
}

impl SqlHelmRegistries {
    /// Pulled charts are kept under `cache_dir`.
    pub fn new(
        db: DatabaseConnection,
        secrets: SecretBox,
        helm: HelmConfig,
        cache_dir: PathBuf,
        gcs_endpoint: String,
    ) -> Self {
        SqlHelmRegistries {
            db,
            secrets,
            helm,
            cache_dir,
            gcs_endpoint,
            listings: Mutex::new(HashMap::new()),
            gcs_clients: Mutex::new(HashMap::new()),
        }
    }

    /// Everything needed to reach registry `id`, secret decrypted.
    pub async fn connection(&self, id: i64) -> Result<HelmConn, AppError> {
        let m = helm_registry::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .doing("reading Helm registry")?
            .ok_or_else(|| AppError::not_found(format!("Helm registry {id}")))?;
        let secret = match &m.secret {
            Some(sealed) => Some(
                self.secrets
                    .open(sealed, &secret_context(m.id))
                    .doing("decrypting Helm registry secret")?,
            ),
            None => None,
        };
        Ok(HelmConn {
            id: m.id,
            kind: m.kind.parse().unwrap_or(HelmRegistryKind::Http),
            name: m.name,
            url: m.url,
            username: m.username,
            secret,
            ca_pem: m.ca_pem,
            plain_http: m.plain_http,
            updated_at: m.updated_at,
        })
    }

    fn gcs_client(&self, conn: &HelmConn) -> Result<Arc<GcsClient>, String> {
        let mut clients = self.gcs_clients.lock().unwrap();
        if let Some((updated_at, c)) = clients.get(&conn.id)
            && *updated_at == conn.updated_at
        {
            return Ok(c.clone());
        }
        let key = conn.secret.as_deref().map(ServiceAccountKey::parse).transpose()?;
        let client = Arc::new(GcsClient::new(&self.gcs_endpoint, key)?);
        clients.insert(conn.id, (conn.updated_at, client.clone()));
        Ok(client)
    }

    /// Reads the registry's charts (no cache).
    async fn read_listing(&self, conn: &HelmConn) -> Result<ChartIndex, String> {
        match conn.kind {
            HelmRegistryKind::Http => {
                let run = HelmRun::new(self.helm.clone()).map_err(|e| e.to_string())?;
                run.repo_add(
                    "repo",
                    &conn.url,
                    conn.credentials().as_ref(),
                    conn.ca_pem.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
                let file = run.dir().join("cache/repository/repo-index.yaml");
                // Sized before it is read: an index helm fetched is never held whole when too large.
                if std::fs::metadata(&file).is_ok_and(|m| m.len() > index::MAX_INDEX as u64) {
                    return Err(format!(
                        "the index of {} is larger than {} MiB, so it was not read",
                        conn.url,
                        index::MAX_INDEX >> 20
                    ));
                }
                let text = std::fs::read_to_string(&file)
                    .map_err(|e| format!("helm fetched no readable index from {}: {e}", conn.url))?;
                ChartIndex::parse(&text)
            }
            HelmRegistryKind::Gcs => {
                let (bucket, path) = gcs::split_url(&conn.url)?;
                let object = if path.is_empty() {
                    "index.yaml".into()
                } else {
                    format!("{path}/index.yaml")
                };
                let bytes = self
                    .gcs_client(conn)?
                    .get(&bucket, &object, index::MAX_INDEX)
                    .await?;
                let text = String::from_utf8(bytes).map_err(|_| "the index is not UTF-8".to_string())?;
                ChartIndex::parse(&text)
            }
            HelmRegistryKind::Oci => self.read_oci_listing(conn).await,
        }
    }

    /// OCI registries have no index: the catalog names the charts, tags their versions, and
    /// each version's config blob holds its `Chart.yaml`.
    async fn read_oci_listing(&self, conn: &HelmConn) -> Result<ChartIndex, String> {
        let client = self.oci_client(conn)?;
        let (host, path) = conn.oci_parts();
        let repos = client.catalog(&path).await.map_err(|e| {
            format!("{e}. Registries that do not allow listing still work: type the chart's name.")
        })?;
        let mut charts = std::collections::BTreeMap::new();
        for repo in repos {
            let chart = if path.is_empty() {
                repo.as_str()
            } else {
                &repo[path.len() + 1..]
            };
            if chart.contains('/') {
                continue;
            }
            let mut tags = client.list_tags(&repo, PAGE_SIZE).await.map_err(|e| e.0)?;
            tags.sort_by(|a, b| index::newest_first(&a.replace('_', "+"), &b.replace('_', "+")));
            tags.truncate(OCI_VERSIONS);
            let client = &client;
            let repo = repo.as_str();
            let host = host.as_str();
            let entries: Vec<Entry> = stream::iter(tags)
                .map(|tag| async move {
                    let found = client.chart_config(repo, &tag).await.map_err(|e| e.0)?;
                    Ok::<_, String>(found.map(|(digest, c)| {
                        Entry {
                            name: c["name"].as_str().unwrap_or_default().to_owned(),
                            version: c["version"]
                                .as_str()
                                .map_or_else(|| tag.replace('_', "+"), str::to_owned),
                            app_version: c["appVersion"].as_str().unwrap_or_default().to_owned(),
                            description: c["description"].as_str().unwrap_or_default().to_owned(),
                            digest,
                            urls: vec![format!("oci://{host}/{repo}")],
                        }
                    }))
                })
                .buffered(4)
                .collect::<Vec<_>>()
                .await
                .into_iter()
                .collect::<Result<Vec<_>, _>>()?
                .into_iter()
                .flatten()
                .collect();
            if !entries.is_empty() {
                charts.insert(chart.to_owned(), entries);
            }
        }
        Ok(ChartIndex { charts })
    }

    fn oci_client(&self, conn: &HelmConn) -> Result<TagClient, String> {
        conn.oci_client()
    }

    /// The registry's charts, from the cache unless it is older than a minute, the registry
    /// changed, or `refresh` asks for a fresh read.
    async fn listing(
        &self,
        conn: &HelmConn,
        refresh: bool,
    ) -> Result<(Arc<ChartIndex>, DateTime<Utc>), String> {
        if !refresh
            && let Some(c) = self.listings.lock().unwrap().get(&conn.id)
            && c.updated_at == conn.updated_at
            && c.fetched.elapsed() < LISTING_TTL
        {
            return Ok((c.index.clone(), c.fetched_at));
        }
        let index = Arc::new(self.read_listing(conn).await?);
        let fetched_at = Utc::now();
        self.listings.lock().unwrap().insert(
            conn.id,
            CachedListing {
                updated_at: conn.updated_at,
                fetched: Instant::now(),
                fetched_at,
                index: index.clone(),
            },
        );
        Ok((index, fetched_at))
    }

    /// The exact version and digest `chart` at `version` (blank: latest) resolves to.
    async fn resolve(&self, conn: &HelmConn, chart: &str, version: &str) -> Result<Entry, String> {
        let not_found = |versions: Vec<&str>| {
            let wanted = if version.is_empty() {
                "any version".to_owned()
            } else {
                format!("version {version}")
            };
            if versions.is_empty() {
                format!("Helm registry {} has no chart {chart} ({wanted})", conn.name)
            } else {
                format!(
                    "Helm registry {} has no {wanted} of chart {chart}; it has {}",
                    conn.name,
                    versions.into_iter().take(10).collect::<Vec<_>>().join(", ")
                )
            }
        };
        if conn.kind == HelmRegistryKind::Oci {
            // Straight from the chart's repository: works where the catalog is not allowed.
            let client = self.oci_client(conn)?;
            let (host, path) = conn.oci_parts();
            let repo = if path.is_empty() {
                chart.to_owned()
            } else {
                format!("{path}/{chart}")
            };
            let tags = client.list_tags(&repo, PAGE_SIZE).await.map_err(|e| e.0)?;
            let versions: Vec<String> = tags.iter().map(|t| t.replace('_', "+")).collect();
            let picked = if version.is_empty() {
                index::latest(versions.iter().map(String::as_str))
            } else {
                versions.iter().map(String::as_str).find(|v| *v == version)
            };
            let Some(picked) = picked else {
                let mut sorted: Vec<&str> = versions.iter().map(String::as_str).collect();
                sorted.sort_by(|a, b| index::newest_first(a, b));
                return Err(not_found(sorted));
            };
            let tag = picked.replace('+', "_");
            let digest = client
                .digest(&repo, &tag)
                .await
                .map_err(|e| e.0)?
                .ok_or_else(|| not_found(vec![]))?;
            return Ok(Entry {
                name: chart.to_owned(),
                version: picked.to_owned(),
                digest,
                urls: vec![format!("oci://{host}/{repo}")],
                ..Default::default()
            });
        }
        let (index, _) = self.listing(conn, false).await?;
        match index.find(chart, version) {
            Some(e) => Ok(e.clone()),
            None => Err(not_found(
                index
                    .charts
                    .get(chart)
                    .map(|v| v.iter().map(|e| e.version.as_str()).collect())
                    .unwrap_or_default(),
            )),
        }
    }

    /// The chart archive for `chart` at `version` (blank: latest), pulled once per digest.
    pub async fn fetch_chart(&self, id: i64, chart: &str, version: &str) -> Result<PulledChart, String> {
        let conn = self.connection(id).await.map_err(|e| e.to_string())?;
        let entry = self.resolve(&conn, chart, version).await?;
        let key = hex::encode(sha2::Sha256::digest(format!(
            "{}\n{chart}\n{}\n{}",
            conn.id, entry.version, entry.digest
        )));
        let dir = self.cache_dir.join("charts");
        let path = dir.join(format!("{}.tgz", &key[..32]));
        if !entry.digest.is_empty() && path.exists() {
            return Ok(PulledChart {
                path,
                version: entry.version,
            });
        }
        std::fs::create_dir_all(&dir).map_err(|e| format!("chart cache {}: {e}", dir.display()))?;
        let run = HelmRun::new(self.helm.clone()).map_err(|e| e.to_string())?;
        let pulled = match conn.kind {
            HelmRegistryKind::Http => {
                run.repo_add(
                    "repo",
                    &conn.url,
                    conn.credentials().as_ref(),
                    conn.ca_pem.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?;
                run.pull(&format!("repo/{chart}"), Some(&entry.version), false, None)
                    .await
                    .map_err(|e| e.to_string())?
            }
            HelmRegistryKind::Oci => {
                let (host, _) = conn.oci_parts();
                if let Some(c) = conn.credentials() {
                    run.registry_login(&host, &c, conn.plain_http, conn.ca_pem.as_deref())
                        .await
                        .map_err(|e| e.to_string())?;
                }
                run.pull(
                    &entry.urls[0],
                    Some(&entry.version),
                    conn.plain_http,
                    conn.ca_pem.as_deref(),
                )
                .await
                .map_err(|e| e.to_string())?
            }
            HelmRegistryKind::Gcs => {
                let (bucket, path) = gcs::split_url(&conn.url)?;
                let url = entry
                    .urls
                    .first()
                    .ok_or_else(|| format!("the index names no archive for {chart} {}", entry.version))?;
                let (bucket, object) = match url.strip_prefix("gs://") {
                    Some(rest) => {
                        let (b, o) = rest.split_once('/').unwrap_or((rest, ""));
                        (b.to_owned(), o.to_owned())
                    }
                    None if url.contains("://") => {
                        return Err(format!(
                            "the index points {chart} {} outside the bucket: {url}",
                            entry.version
                        ));
                    }
                    None if path.is_empty() => (bucket, url.clone()),
                    None => (bucket, format!("{path}/{url}")),
                };
                let bytes = self.gcs_client(&conn)?.get(&bucket, &object, MAX_CHART).await?;
                let actual = hex::encode(sha2::Sha256::digest(&bytes));
                if !entry.digest.is_empty() && actual != entry.digest {
                    return Err(format!(
                        "gs://{bucket}/{object} does not match the digest in the index (sha256 {actual}, expected {})",
                        entry.digest
                    ));
                }
                run.private_file("chart.tgz", &bytes).map_err(|e| e.to_string())?
            }
        };
        // Another request may pull the same chart at once; the rename makes either copy win whole.
        let tmp = dir.join(format!("{}.{:08x}.tmp", &key[..32], rand::random::<u32>()));
        std::fs::copy(&pulled, &tmp)
            .and_then(|_| std::fs::rename(&tmp, &path))
            .map_err(|e| format!("chart cache {}: {e}", dir.display()))?;
        Ok(PulledChart {
            path,
            version: entry.version,
        })
    }

    /// `helm template` of a pulled chart with `values`.
    pub async fn template(
        &self,
        chart: &PulledChart,
        release: &str,
        namespace: &str,
        values: &str,
        kube_version: Option<&str>,
    ) -> Result<String, String> {
        let run = HelmRun::new(self.helm.clone()).map_err(|e| e.to_string())?;
        run.template(
            TemplateOpts {
                release_name: release.to_owned(),
                chart: chart.path.display().to_string(),
                namespace: namespace.to_owned(),
                values_files: vec![],
                kube_version: kube_version.map(str::to_owned),
                include_crds: true,
                version: None,
            },
            values,
        )
        .await
        .map_err(|e| e.to_string())
    }
}

#[async_trait::async_trait]
impl HelmRegistries for SqlHelmRegistries {
    async fn list(&self) -> Result<Vec<HelmRegistry>, AppError> {
        let all = helm_registry::Entity::find()
            .order_by_asc(helm_registry::Column::Name)
            .all(&self.db)
            .await
            .doing("listing Helm registries")?;
        Ok(all.into_iter().map(to_model).collect())
    }

    async fn names(&self) -> Result<Vec<HelmRegistryName>, AppError> {
        Ok(self
            .list()
            .await?
            .into_iter()
            .map(|r| HelmRegistryName {
                id: r.id,
                name: r.name,
                kind: r.kind,
            })
            .collect())
    }

    async fn save(&self, actor: &CurrentUser, input: HelmRegistryInput) -> Result<HelmRegistry, AppError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("saving Helm registry")?;
        let existing = match input.id {
            Some(id) => Some(
                helm_registry::Entity::find_by_id(id.0)
                    .one(&txn)
                    .await
                    .doing("saving Helm registry")?
                    .ok_or_else(|| AppError::not_found(format!("Helm registry {}", id.0)))?,
            ),
            None => None,
        };
        // A stored password is no service-account key (and the other way round): a kind change
        // keeps no secret.
        let stored = existing
            .as_ref()
            .filter(|m| m.secret.is_some() && m.kind == input.kind);
        // A password stays with its host: a URL on another host or port needs it again. (A
        // bucket's service-account key only ever goes to the token endpoint it names.)
        let moved = stored.is_some_and(|m| {
            m.kind != HelmRegistryKind::Gcs.as_str()
                && !crate::registry::same_credential_origin(&m.url, input.url.trim())
        });
        let keep_secret = stored.is_some() && !moved;
        let valid = validate(&input, keep_secret, moved)?;
        let columns = (helm_registry::Column::Name, helm_registry::Column::Id);
        let own = existing.as_ref().map(|m| m.id);
        crate::db::refuse_taken_name::<helm_registry::Entity, _>(
            &txn,
            columns,
            &valid.name,
            own,
            "A Helm registry",
        )
        .await?;
        let now = Utc::now();
        let new_secret = input.secret.filter(|s| !s.is_empty());
        let plain_http = input.plain_http && valid.kind != HelmRegistryKind::Gcs;
        let (saved, kind, message) = match existing {
            None => {
                let m = helm_registry::ActiveModel {
                    name: Set(valid.name.clone()),
                    kind: Set(valid.kind.as_str().into()),
                    url: Set(valid.url.clone()),
                    username: Set(valid.username.clone()),
                    secret: Set(None),
                    ca_pem: Set(valid.ca_pem.clone()),
                    plain_http: Set(plain_http),
                    created_at: Set(now),
                    updated_at: Set(now),
                    ..Default::default()
                }
                .insert(&txn)
                .await
                .doing("saving Helm registry")?;
                // The id is part of the secret's context, so seal after the insert.
                let m = match &new_secret {
                    Some(s) => {
                        let mut am: helm_registry::ActiveModel = m.into();
                        am.secret = Set(Some(
                            self.secrets.seal(s, &secret_context(am.id.clone().unwrap())),
                        ));
                        am.update(&txn).await.doing("saving Helm registry")?
                    }
                    None => m,
                };
                let message = format!(
                    "Helm registry {} ({}, {}) created{}",
                    m.name,
                    valid.kind.label(),
                    m.url,
                    if m.secret.is_some() {
                        " with credentials"
                    } else {
                        ""
                    }
                );
                (m, "helm_registry.created", message)
            }
            Some(old) => {
                let mut changes = changes(&old, &valid, plain_http);
                let secret = match &new_secret {
                    Some(s) => {
                        changes.push("secret replaced".into());
                        Some(self.secrets.seal(s, &secret_context(old.id)))
                    }
                    None if keep_secret => old.secret.clone(),
                    None => {
                        if old.secret.is_some() {
                            changes.push("secret removed".into());
                        }
                        None
                    }
                };
                let mut am: helm_registry::ActiveModel = old.into();
                am.name = Set(valid.name.clone());
                am.kind = Set(valid.kind.as_str().into());
                am.url = Set(valid.url.clone());
                am.username = Set(valid.username.clone());
                am.secret = Set(secret);
                am.ca_pem = Set(valid.ca_pem.clone());
                am.plain_http = Set(plain_http);
                am.updated_at = Set(now);
                let m = am.update(&txn).await.doing("saving Helm registry")?;
                let what = if changes.is_empty() {
                    "nothing changed".to_string()
                } else {
                    changes.join(", ")
                };
                let message = format!("Helm registry {} changed: {what}", m.name);
                (m, "helm_registry.changed", message)
            }
        };
        activity::user_action(&txn, actor, kind, &saved.name.clone(), message).await?;
        txn.commit().await.doing("saving Helm registry")?;
        Ok(to_model(saved))
    }

    async fn delete(&self, actor: &CurrentUser, id: HelmRegistryId) -> Result<(), AppError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("deleting Helm registry")?;
        let m = helm_registry::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("deleting Helm registry")?
            .ok_or_else(|| AppError::not_found(format!("Helm registry {}", id.0)))?;
        let users = users_of(&txn, id.0).await.doing("deleting Helm registry")?;
        if !users.is_empty() {
            return Err(AppError::conflict(format!(
                "Helm registry {} is used by: {}. Point these templates to another registry first.",
                m.name,
                users.join(", ")
            )));
        }
        helm_registry::Entity::delete_by_id(id.0)
            .exec(&txn)
            .await
            .doing("deleting Helm registry")?;
        activity::user_action(
            &txn,
            actor,
            "helm_registry.deleted",
            &m.name,
            format!("Helm registry {} ({}) deleted", m.name, m.url),
        )
        .await?;
        txn.commit().await.doing("deleting Helm registry")?;
        self.listings.lock().unwrap().remove(&id.0);
        Ok(())
    }

    async fn charts(&self, id: HelmRegistryId, refresh: bool) -> Result<ChartList, AppError> {
        let conn = self.connection(id.0).await?;
        let (index, fetched_at) =
            self.listing(&conn, refresh)
                .await
                .map_err(|message| AppError::Upstream {
                    service: format!("Helm registry {}", conn.name),
                    message,
                })?;
        Ok(ChartList {
            registry: id,
            charts: index.to_charts(),
            fetched_at,
        })
    }
}
