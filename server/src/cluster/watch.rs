//! ⑤ Live status: one long-lived kube-runtime watcher per workload kind (Pods, Deployments,
//! StatefulSets, DaemonSets, Jobs), each selecting only objects that carry O-Neko's version label
//! and reflecting them into an in-memory store. Nothing polls: an event names the version whose
//! objects changed, and `health` reduces that version's objects with the pure rules in
//! `health`. Status changes are broadcast to every open page (`/live/events`).

use super::health;
use crate::names::LABEL_VERSION;
use app::model::{DeployState, LiveEvent};
use futures::StreamExt;
use k8s_openapi::api::{
    apps::v1::{DaemonSet, Deployment, StatefulSet},
    batch::v1::Job,
    core::v1::Pod,
};
use kube::{
    Api, Client, Resource,
    runtime::{
        WatchStreamExt,
        reflector::{self, Store},
        watcher,
    },
};
use std::{
    fmt::Debug,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
};
use tokio::sync::{broadcast, mpsc, watch as tokio_watch};

/// Whether objects of this kind are long-running workloads the watchers follow, whose spec
/// changes O-Neko notices (by `metadata.generation`). Jobs are left out: they may delete
/// themselves once done.
pub fn watched_workload(api_version: &str, kind: &str) -> bool {
    api_version == "apps/v1" && matches!(kind, "Deployment" | "StatefulSet" | "DaemonSet")
}

/// What changed in the cluster.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Changed {
    /// Objects of this version.
    Version(i64),
    /// A watcher (re)listed: any version may have changed.
    All,
}

/// The reflected objects of all deployed versions, and the channel status changes go out on.
pub struct Live {
    pods: Option<Store<Pod>>,
    deployments: Option<Store<Deployment>>,
    statefulsets: Option<Store<StatefulSet>>,
    daemonsets: Option<Store<DaemonSet>>,
    jobs: Option<Store<Job>>,
    events: broadcast::Sender<LiveEvent>,
    /// Watch events received, for the benchmark.
    received: Arc<AtomicUsize>,
}

fn version_of<K: Resource>(o: &K) -> Option<i64> {
    o.meta().labels.as_ref()?.get(LABEL_VERSION)?.parse().ok()
}

/// Starts a watcher for `K` and returns its store; changes are sent to `changed`.
fn watch_kind<K>(
    client: &Client,
    changed: mpsc::UnboundedSender<Changed>,
    received: Arc<AtomicUsize>,
    mut stop: tokio_watch::Receiver<bool>,
) -> Store<K>
where
    K: Resource<DynamicType = ()> + Clone + Debug + serde::de::DeserializeOwned + Send + Sync + 'static,
{
    let api: Api<K> = Api::all(client.clone());
    let (reader, writer) = reflector::store::<K>();
    let config = watcher::Config::default().labels(LABEL_VERSION);
    let stream = watcher(api, config).default_backoff().reflect(writer);
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        loop {
            let next = tokio::select! {
                n = stream.next() => n,
                _ = stop.changed() => return,
            };
            let Some(event) = next else { return };
            received.fetch_add(1, Ordering::Relaxed);
            let what = match event {
                Ok(watcher::Event::Apply(o) | watcher::Event::Delete(o) | watcher::Event::InitApply(o)) => {
                    version_of(&o).map(Changed::Version)
                }
                Ok(watcher::Event::InitDone) => Some(Changed::All),
                Ok(watcher::Event::Init) => None,
                Err(e) => {
                    tracing::warn!(kind = %K::kind(&()), error = %e, "watching the cluster failed; retrying");
                    None
                }
            };
            if let Some(what) = what
                && changed.send(what).is_err()
            {
                return;
            }
        }
    });
    reader
}

fn of_version<K: Resource<DynamicType = ()> + Clone>(store: &Option<Store<K>>, version: i64) -> Vec<Arc<K>> {
    store
        .as_ref()
        .map(|s| {
            s.state()
                .into_iter()
                .filter(|o| version_of(o.as_ref()) == Some(version))
                .collect()
        })
        .unwrap_or_default()
}

impl Live {
    /// Starts the watchers (none without a cluster). The receiver yields what changed.
    pub fn start(
        client: Option<Client>,
        stop: tokio_watch::Receiver<bool>,
    ) -> (Arc<Live>, mpsc::UnboundedReceiver<Changed>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (events, _) = broadcast::channel(1024);
        let received = Arc::new(AtomicUsize::new(0));
        let live = match client {
            None => Live {
                pods: None,
                deployments: None,
                statefulsets: None,
                daemonsets: None,
                jobs: None,
                events,
                received,
            },
            Some(c) => Live {
                pods: Some(watch_kind(&c, tx.clone(), received.clone(), stop.clone())),
                deployments: Some(watch_kind(&c, tx.clone(), received.clone(), stop.clone())),
                statefulsets: Some(watch_kind(&c, tx.clone(), received.clone(), stop.clone())),
                daemonsets: Some(watch_kind(&c, tx.clone(), received.clone(), stop.clone())),
                jobs: Some(watch_kind(&c, tx, received.clone(), stop)),
                events,
                received,
            },
        };
        (Arc::new(live), rx)
    }

    /// The health of a version's workloads (running when it has none).
    pub fn health(&self, version: i64) -> (DeployState, String) {
        let mut all = vec![];
        all.extend(
            of_version(&self.deployments, version)
                .iter()
                .map(|d| health::deployment(d)),
        );
        all.extend(
            of_version(&self.statefulsets, version)
                .iter()
                .map(|s| health::statefulset(s)),
        );
        all.extend(
            of_version(&self.daemonsets, version)
                .iter()
                .map(|d| health::daemonset(d)),
        );
        all.extend(of_version(&self.jobs, version).iter().map(|j| health::job(j)));
        all.extend(
            of_version(&self.pods, version)
                .iter()
                // Job pods count through their Job; pods on their way out do not count.
                .filter(|p| {
                    p.metadata.deletion_timestamp.is_none()
                        && !p
                            .metadata
                            .owner_references
                            .iter()
                            .flatten()
                            .any(|o| o.kind == "Job")
                })
                .map(|p| health::pod(p)),
        );
        health::version_state(all)
    }

    /// Whether the watchers of long-running workloads have listed the cluster once: until
    /// then a workload they do not show may just not be listed yet.
    pub fn workloads_listed(&self) -> bool {
        fn listed<K: Resource<DynamicType = ()> + Clone>(store: &Option<Store<K>>) -> bool {
            use futures::FutureExt;
            store
                .as_ref()
                .is_some_and(|s| s.wait_until_ready().now_or_never().is_some_and(|r| r.is_ok()))
        }
        listed(&self.deployments) && listed(&self.statefulsets) && listed(&self.daemonsets)
    }

    /// `Kind/name` → `metadata.generation` of the version's long-running workloads
    /// (Deployments, StatefulSets, DaemonSets) as the watchers last saw them.
    pub fn generations(&self, version: i64) -> std::collections::HashMap<String, i64> {
        fn of<K: Resource<DynamicType = ()> + Clone>(
            store: &Option<Store<K>>,
            version: i64,
        ) -> impl Iterator<Item = (String, i64)> {
            of_version(store, version).into_iter().map(|o| {
                let m = o.meta();
                (
                    format!("{}/{}", K::kind(&()), m.name.clone().unwrap_or_default()),
                    m.generation.unwrap_or(0),
                )
            })
        }
        of(&self.deployments, version)
            .chain(of(&self.statefulsets, version))
            .chain(of(&self.daemonsets, version))
            .collect()
    }

    /// The version's pods, oldest first.
    pub fn pods(&self, version: i64) -> Vec<Arc<Pod>> {
        let mut pods = of_version(&self.pods, version);
        pods.sort_by(|a, b| {
            (
                a.metadata.creation_timestamp.as_ref().map(|t| t.0),
                &a.metadata.name,
            )
                .cmp(&(
                    b.metadata.creation_timestamp.as_ref().map(|t| t.0),
                    &b.metadata.name,
                ))
        });
        pods
    }

    /// Waits until every watcher has listed once (so `health` reflects the cluster).
    pub async fn ready(&self) {
        if let Some(s) = &self.pods {
            let _ = s.wait_until_ready().await;
        }
        if let Some(s) = &self.deployments {
            let _ = s.wait_until_ready().await;
        }
        if let Some(s) = &self.statefulsets {
            let _ = s.wait_until_ready().await;
        }
        if let Some(s) = &self.daemonsets {
            let _ = s.wait_until_ready().await;
        }
        if let Some(s) = &self.jobs {
            let _ = s.wait_until_ready().await;
        }
    }

    /// Status changes, for one open page.
    pub fn subscribe(&self) -> broadcast::Receiver<LiveEvent> {
        self.events.subscribe()
    }

    /// Sends a status change to every open page.
    pub fn publish(&self, e: LiveEvent) {
        let _ = self.events.send(e);
    }

    /// Watch events received so far.
    pub fn received(&self) -> usize {
        self.received.load(Ordering::Relaxed)
    }
}
