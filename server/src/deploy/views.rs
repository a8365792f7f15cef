//! The read side: the dashboard, search, a version's detail (pods, events, ingress URLs) and
//! its logs; and the dashboard's port (`app::ssr::Deployments`), whose writes (deploy, stop,
//! extend, batch) are one-line calls into `request`.

use super::*;
use crate::error::Doing;
use std::time::Instant;

/// How long Ingress hosts read from the API server are shown before they are read again.
const INGRESS_TTL: Duration = Duration::from_secs(10);

/// Ingress hosts by version, with what they were read for.
#[derive(Default)]
pub(super) struct IngressCache(std::sync::Mutex<HashMap<i64, IngressSeen>>);

pub(super) struct IngressSeen {
    /// The deployment's `applied_at` and inventory at the time.
    applied: (Option<DateTime<Utc>>, Option<String>),
    read: Instant,
    urls: Vec<String>,
}

impl Deployer {
    /// Rendered URLs and whether the deployment is outdated, for a deployed version.
    pub(super) async fn rendered(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<(Vec<String>, bool), AppError> {
        let preview = self.previews.preview(&self.db, p, v).await?;
        let outdated = match row.and_then(|r| r.hash.as_deref()) {
            Some(deployed) if v.deployed => preview.hash.as_deref() != Some(deployed),
            _ => false,
        };
        Ok((preview.urls.clone(), outdated))
    }

    /// A version's full status, with "outdated" computed from its current configuration.
    pub async fn full_status(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
    ) -> Result<DeployStatus, AppError> {
        let mut status = status_of(row, v);
        // Only a deployed version can be outdated; the others need no rendering.
        if v.deployed && row.is_some_and(|r| r.hash.is_some()) {
            status.outdated = self.rendered(p, v, row).await?.1;
        }
        Ok(status)
    }

    pub(super) async fn row(&self, version: i64) -> Result<Option<deployment::Model>, AppError> {
        Ok(deployment::Entity::find()
            .filter(deployment::Column::VersionId.eq(version))
            .one(&self.db)
            .await
            .doing("reading deployment")?)
    }

    /// The hosts of the deployment's Ingresses as URLs (https where the Ingress has TLS for it):
    /// read again when the deployment was applied anew or after [`INGRESS_TTL`] (an edit made
    /// outside O-Neko).
    pub(super) async fn ingress_urls(&self, row: &deployment::Model) -> Vec<String> {
        let applied = (row.applied_at, row.inventory.clone());
        if let Some(seen) = self.ingresses.0.lock().unwrap().get(&row.version_id)
            && seen.applied == applied
            && seen.read.elapsed() < INGRESS_TTL
        {
            return seen.urls.clone();
        }
        let urls = self.read_ingress_urls(row).await;
        let mut seen = self.ingresses.0.lock().unwrap();
        // Versions not looked at for a while (stopped, deleted) are forgotten.
        seen.retain(|_, s| s.read.elapsed() < INGRESS_TTL * 6);
        seen.insert(
            row.version_id,
            IngressSeen {
                applied,
                read: Instant::now(),
                urls: urls.clone(),
            },
        );
        urls
    }

    async fn read_ingress_urls(&self, row: &deployment::Model) -> Vec<String> {
        let Ok(client) = self.cluster.client() else {
            return vec![];
        };
        let refs: Vec<ObjectRef> = row
            .inventory
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let mut urls = vec![];
        for r in refs.iter().filter(|r| r.kind == "Ingress") {
            let api: kube::Api<k8s_openapi::api::networking::v1::Ingress> =
                kube::Api::namespaced(client.clone(), r.namespace.as_deref().unwrap_or(&row.namespace));
            let Ok(Some(ing)) = api.get_opt(&r.name).await else {
                continue;
            };
            let Some(spec) = ing.spec else { continue };
            let tls_hosts: HashSet<String> = spec
                .tls
                .iter()
                .flatten()
                .flat_map(|t| t.hosts.iter().flatten().cloned())
                .collect();
            for host in spec.rules.iter().flatten().filter_map(|r| r.host.clone()) {
                let scheme = if tls_hosts.contains(&host) {
                    "https"
                } else {
                    "http"
                };
                urls.push(format!("{scheme}://{host}"));
            }
        }
        urls
    }

    pub(super) async fn events(&self, row: &deployment::Model, names: &HashSet<String>) -> Vec<EventInfo> {
        let Ok(client) = self.cluster.client() else {
            return vec![];
        };
        let api: kube::Api<k8s_openapi::api::core::v1::Event> = kube::Api::namespaced(client, &row.namespace);
        let Ok(list) = api.list(&Default::default()).await else {
            return vec![];
        };
        let mut out: Vec<EventInfo> = list
            .items
            .into_iter()
            .filter(|e| !row.shared || e.involved_object.name.as_ref().is_some_and(|n| names.contains(n)))
            .map(|e| EventInfo {
                at: e
                    .last_timestamp
                    .map(|t| t.0)
                    .or(e.event_time.map(|t| t.0))
                    .or(e.metadata.creation_timestamp.map(|t| t.0))
                    .and_then(chrono_time),
                kind: e.type_.unwrap_or_else(|| "Normal".into()),
                reason: e.reason.unwrap_or_default(),
                object: format!(
                    "{}/{}",
                    e.involved_object.kind.unwrap_or_default(),
                    e.involved_object.name.unwrap_or_default()
                ),
                message: e.message.unwrap_or_default(),
                count: e.count.unwrap_or(1),
            })
            .collect();
        out.sort_by_key(|e| std::cmp::Reverse(e.at));
        out.truncate(50);
        out
    }

    pub(super) fn pod_info(&self, p: &k8s_openapi::api::core::v1::Pod, namespace: &str) -> PodInfo {
        let status = p.status.as_ref();
        let statuses = status
            .and_then(|s| s.container_statuses.clone())
            .unwrap_or_default();
        let spec_containers: Vec<String> = p
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_default();
        let name = p.metadata.name.clone().unwrap_or_default();
        let log_link = |container: &str| {
            self.config.log_link.as_ref().map(|t| {
                t.replace("{namespace}", namespace)
                    .replace("{pod}", &name)
                    .replace("{container}", container)
            })
        };
        let containers: Vec<ContainerInfo> = spec_containers
            .iter()
            .map(|c| {
                let st = statuses.iter().find(|s| &s.name == c);
                ContainerInfo {
                    name: c.clone(),
                    image: st.map(|s| s.image.clone()).unwrap_or_else(|| {
                        p.spec
                            .as_ref()
                            .and_then(|s| s.containers.iter().find(|x| &x.name == c))
                            .and_then(|x| x.image.clone())
                            .unwrap_or_default()
                    }),
                    image_id: st.map(|s| s.image_id.clone()).unwrap_or_default(),
                    ready: st.is_some_and(|s| s.ready),
                    restarts: st.map_or(0, |s| s.restart_count),
                    state: st
                        .and_then(|s| s.state.as_ref())
                        .map(|s| {
                            if s.running.is_some() {
                                "running".to_string()
                            } else if let Some(w) = &s.waiting {
                                format!("waiting: {}", w.reason.clone().unwrap_or_default())
                            } else if let Some(t) = &s.terminated {
                                format!(
                                    "terminated: {} (exit {})",
                                    t.reason.clone().unwrap_or_default(),
                                    t.exit_code
                                )
                            } else {
                                "unknown".into()
                            }
                        })
                        .unwrap_or_else(|| "not started".into()),
                    log_link: log_link(c),
                }
            })
            .collect();
        let problem = match crate::cluster::health::pod(p) {
            crate::cluster::health::Health::Degraded(m) => Some(m),
            _ => None,
        };
        PodInfo {
            phase: status
                .and_then(|s| s.phase.clone())
                .unwrap_or_else(|| "Pending".into()),
            ready: containers.iter().filter(|c| c.ready).count() as u32,
            total: containers.len() as u32,
            restarts: containers.iter().map(|c| c.restarts).sum(),
            problem,
            containers,
            created_at: p
                .metadata
                .creation_timestamp
                .as_ref()
                .and_then(|t| chrono_time(t.0)),
            name,
        }
    }

    /// One version as the dashboard shows it: the status with "outdated", the rendered URL
    /// templates then `ingress` (its Ingress hosts), and its select variables.
    async fn dashboard_row(
        &self,
        p: &project::Model,
        v: &project_version::Model,
        row: Option<&deployment::Model>,
        ingress: Vec<String>,
    ) -> Result<DashboardRow, AppError> {
        let (mut urls, outdated) = self.rendered(p, v, row).await?;
        add_ingress_urls(&mut urls, ingress);
        let mut status = status_of(row, v);
        status.outdated = outdated;
        let project_config: ProjectConfig =
            config::parse_stored(p.config.as_deref(), "project configuration");
        let overrides: VersionOverrides = config::parse_stored(v.overrides.as_deref(), "version overrides");
        Ok(DashboardRow {
            project: ProjectId(p.id),
            project_name: p.name.clone(),
            version: VersionId(v.id),
            version_name: v.name.clone(),
            status,
            image_created_at: v.image_created_at,
            digest: v.digest.clone(),
            removed: v.removed_at.is_some(),
            urls,
            variables: Self::dashboard_variables(&project_config, &overrides.values),
        })
    }

    pub(super) fn dashboard_variables(
        config: &ProjectConfig,
        values: &BTreeMap<String, String>,
    ) -> Vec<DashboardVariable> {
        config
            .variables
            .iter()
            .filter(|x| x.use_values && x.show_on_dashboard)
            .map(|x| DashboardVariable {
                name: x.name.clone(),
                label: config::label(x).to_string(),
                values: x.values.clone(),
                current: values
                    .get(&x.name)
                    .cloned()
                    .unwrap_or_else(|| x.default_value.clone()),
            })
            .collect()
    }
}

#[async_trait::async_trait]
impl Deployments for Deployer {
    async fn deploy(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError> {
        self.request(Request::by_person(&actor.actor(), id, Action::Deploy))
            .await
    }

    async fn stop(&self, actor: &CurrentUser, id: VersionId) -> Result<DeployStatus, AppError> {
        self.request(Request::by_person(&actor.actor(), id, Action::Stop))
            .await
    }

    async fn extend(
        &self,
        actor: &CurrentUser,
        id: VersionId,
        until: Option<DateTime<Utc>>,
    ) -> Result<DeployStatus, AppError> {
        Deployer::extend(self, actor, id, until).await
    }

    async fn status(&self, id: VersionId) -> Result<DeployStatus, AppError> {
        let (p, v) = self.find(id).await?;
        let row = self.row(v.id).await?;
        self.full_status(&p, &v, row.as_ref()).await
    }

    async fn version_row(&self, id: VersionId) -> Result<DashboardRow, AppError> {
        let (p, v) = self.find(id).await?;
        let row = self.row(v.id).await?;
        let ingress = match &row {
            Some(r) => self.ingress_urls(r).await,
            None => vec![],
        };
        self.dashboard_row(&p, &v, row.as_ref(), ingress).await
    }

    async fn detail(&self, id: VersionId) -> Result<DeploymentDetail, AppError> {
        let (p, v) = self.find(id).await?;
        let row = self.row(v.id).await?;
        let (mut urls, outdated) = self.rendered(&p, &v, row.as_ref()).await?;
        let mut status = status_of(row.as_ref(), &v);
        status.outdated = outdated;
        let Some(row) = row.filter(|r| r.applied_at.is_some() || pending(r)) else {
            return Ok(DeploymentDetail {
                status,
                pods: vec![],
                events: vec![],
                urls: vec![],
                objects: vec![],
            });
        };
        let pods: Vec<PodInfo> = self
            .live
            .pods(v.id)
            .iter()
            .map(|pod| self.pod_info(pod, &row.namespace))
            .collect();
        let refs: Vec<ObjectRef> = row
            .inventory
            .as_deref()
            .and_then(|i| serde_json::from_str(i).ok())
            .unwrap_or_default();
        let mut names: HashSet<String> = refs.iter().map(|r| r.name.clone()).collect();
        names.extend(pods.iter().map(|p| p.name.clone()));
        let events = self.events(&row, &names).await;
        add_ingress_urls(&mut urls, self.ingress_urls(&row).await);
        Ok(DeploymentDetail {
            status,
            pods,
            events,
            urls,
            objects: refs.iter().map(ObjectRef::describe).collect(),
        })
    }

    async fn dashboard(
        &self,
        project: Option<ProjectId>,
        search: String,
    ) -> Result<Vec<DashboardRow>, AppError> {
        let mut q = deployment::Entity::find().filter(
            Condition::any()
                .add(deployment::Column::State.ne(DeployState::NotDeployed.as_str()))
                .add(
                    Expr::col(deployment::Column::Generation)
                        .gt(Expr::col(deployment::Column::DoneGeneration)),
                ),
        );
        if let Some(p) = project {
            q = q.filter(deployment::Column::ProjectId.eq(p.0));
        }
        let rows = q.all(&self.db).await.doing("reading the dashboard")?;
        let version_ids: Vec<i64> = rows.iter().map(|r| r.version_id).collect();
        let versions: HashMap<i64, project_version::Model> = project_version::Entity::find()
            .filter(project_version::Column::Id.is_in(version_ids))
            .all(&self.db)
            .await
            .doing("reading the dashboard")?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        let projects: HashMap<i64, project::Model> = project::Entity::find()
            .all(&self.db)
            .await
            .doing("reading the dashboard")?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let needle = search.trim().to_lowercase();
        // Ingress hosts, read from the cluster for every row at once (one call per Ingress).
        let mut ingress: HashMap<i64, Vec<String>> =
            futures::future::join_all(rows.iter().map(|r| async { (r.id, self.ingress_urls(r).await) }))
                .await
                .into_iter()
                .collect();
        let mut out = vec![];
        for row in &rows {
            let (Some(v), Some(p)) = (versions.get(&row.version_id), projects.get(&row.project_id)) else {
                continue;
            };
            if !needle.is_empty()
                && !v.name.to_lowercase().contains(&needle)
                && !p.name.to_lowercase().contains(&needle)
            {
                continue;
            }
            let ingress = ingress.remove(&row.id).unwrap_or_default();
            out.push(self.dashboard_row(p, v, Some(row), ingress).await?);
        }
        out.sort_by(|a, b| (&a.project_name, &a.version_name).cmp(&(&b.project_name, &b.version_name)));
        Ok(out)
    }

    async fn search(&self, text: String) -> Result<Vec<VersionHit>, AppError> {
        let needle = text.trim();
        if needle.is_empty() {
            return Ok(vec![]);
        }
        let projects: HashMap<i64, project::Model> = project::Entity::find()
            .filter(project::Column::DeletingAt.is_null())
            .all(&self.db)
            .await
            .doing("searching versions")?
            .into_iter()
            .map(|p| (p.id, p))
            .collect();
        let lower = needle.to_lowercase();
        let matching_projects: Vec<i64> = projects
            .values()
            .filter(|p| p.name.to_lowercase().contains(&lower))
            .map(|p| p.id)
            .collect();
        let versions = project_version::Entity::find()
            .filter(project_version::Column::RemovedAt.is_null())
            .filter(
                Condition::any()
                    .add(project_version::Column::Name.contains(needle))
                    .add(project_version::Column::ProjectId.is_in(matching_projects)),
            )
            .order_by_asc(project_version::Column::Name)
            .limit(50)
            .all(&self.db)
            .await
            .doing("searching versions")?;
        let rows: HashMap<i64, deployment::Model> = deployment::Entity::find()
            .filter(deployment::Column::VersionId.is_in(versions.iter().map(|v| v.id).collect::<Vec<_>>()))
            .all(&self.db)
            .await
            .doing("searching versions")?
            .into_iter()
            .map(|d| (d.version_id, d))
            .collect();
        Ok(versions
            .into_iter()
            .filter_map(|v| {
                let p = projects.get(&v.project_id)?;
                Some(VersionHit {
                    project: ProjectId(p.id),
                    project_name: p.name.clone(),
                    version: VersionId(v.id),
                    state: rows.get(&v.id).map(state_of).unwrap_or_default(),
                    version_name: v.name,
                    image_created_at: v.image_created_at,
                })
            })
            .collect())
    }

    async fn logs(
        &self,
        id: VersionId,
        pod: String,
        container: String,
        tail: u32,
    ) -> Result<String, AppError> {
        let (namespace, pod, container) = self.log_target(id, &pod, &container).await?;
        let client = self.cluster.client().map_err(AppError::conflict)?;
        let api: kube::Api<k8s_openapi::api::core::v1::Pod> = kube::Api::namespaced(client, &namespace);
        let params = kube::api::LogParams {
            container: Some(container),
            tail_lines: Some(i64::from(tail)),
            // The API server stops there; each line is cut as the live view cuts it.
            limit_bytes: Some(crate::cluster::logs::MAX_LOG_READ as i64),
            ..Default::default()
        };
        let text = api.logs(&pod, &params).await.doing("reading pod logs")?;
        Ok(crate::cluster::logs::cut_lines(&text))
    }

    async fn batch(&self, actor: &CurrentUser, ids: Vec<VersionId>, deploy: bool) -> Vec<BatchOutcome> {
        let action = if deploy { Action::Deploy } else { Action::Stop };
        self.request_each(&actor.actor(), ids, action).await
    }
}

impl Deployer {
    /// Checks that `pod` is one of the version's pods with that container; returns the namespace.
    pub async fn log_target(
        &self,
        id: VersionId,
        pod: &str,
        container: &str,
    ) -> Result<(String, String, String), AppError> {
        let row = self
            .row(id.0)
            .await?
            .ok_or_else(|| AppError::not_found(format!("a deployment of version {}", id.0)))?;
        let pods = self.live.pods(id.0);
        let p = pods
            .iter()
            .find(|p| p.metadata.name.as_deref() == Some(pod))
            .ok_or_else(|| AppError::not_found(format!("pod {pod} of this version")))?;
        let known = p.spec.as_ref().is_some_and(|s| {
            s.containers
                .iter()
                .chain(s.init_containers.iter().flatten())
                .any(|c| c.name == container)
        });
        if !known {
            return Err(AppError::not_found(format!("container {container} in pod {pod}")));
        }
        Ok((row.namespace, pod.to_owned(), container.to_owned()))
    }

    /// Who may see what: the log stream's client.
    pub fn client(&self) -> Result<kube::Client, AppError> {
        self.cluster.client().map_err(AppError::conflict)
    }
}

/// Adds Ingress URLs to the rendered ones, unless a URL template names the same host already.
fn add_ingress_urls(urls: &mut Vec<String>, ingress: Vec<String>) {
    let host = |u: &str| u.split_once("://").map_or(u, |(_, h)| h).to_owned();
    for u in ingress {
        if !urls.iter().any(|x| host(x) == host(&u)) {
            urls.push(u);
        }
    }
}
