//! kube-sim: a simulated Kubernetes API server for O-Neko's tests and demo mode.
//!
//! It serves the Kubernetes REST API over real HTTP(S) (so kube-rs, `kubectl` and `helm` can
//! talk to it as to a cluster), keeps every object in one in-memory store, and runs small
//! simulated controllers and a kubelet. See `README.md` for what is and is not covered.

pub mod api;
pub mod controllers;
pub mod defaults;
pub mod errors;
pub mod ops;
pub mod patch;
pub mod protobuf;
pub mod rbac;
pub mod registry;
pub mod selectors;
pub mod store;
pub mod tls;
pub mod validate;
pub mod watch;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use parking_lot::{Mutex, RwLock};
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch as tokio_watch};
use tokio::task::JoinSet;

use crate::registry::Registry;
use crate::store::Store;

/// How to run a simulated cluster. `Default` gives HTTPS on 127.0.0.1 with a random port and token.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub bind: SocketAddr,
    pub tls: bool,
    /// Bearer token clients must send; random when `None`.
    pub token: Option<String>,
    /// How long a deleted namespace stays `Terminating` (at least) before it disappears.
    pub namespace_delete_delay: Duration,
    /// How long a pod takes from creation to Running/Ready.
    pub pod_ready_delay: Duration,
    /// Where to write the kubeconfig; a temporary directory (removed on shutdown) when `None`.
    pub kubeconfig_path: Option<PathBuf>,
    /// How many watch events are kept; watches from an older resourceVersion get 410 Gone.
    pub watch_history: usize,
    /// How often watches with `allowWatchBookmarks=true` get a BOOKMARK.
    pub bookmark_interval: Duration,
    /// Tick of the simulated controllers and kubelet.
    pub controller_interval: Duration,
    /// Version reported by `/version`.
    pub git_version: String,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            bind: "127.0.0.1:0".parse().expect("static address"),
            tls: true,
            token: None,
            namespace_delete_delay: Duration::from_millis(200),
            pod_ready_delay: Duration::from_millis(300),
            kubeconfig_path: None,
            watch_history: 10_000,
            bookmark_interval: Duration::from_secs(2),
            controller_interval: Duration::from_millis(50),
            git_version: "v1.35.0".into(),
        }
    }
}

impl SimConfig {
    pub fn new() -> Self {
        Self::default()
    }
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.bind = addr;
        self
    }
    pub fn tls(mut self, tls: bool) -> Self {
        self.tls = tls;
        self
    }
    pub fn token(mut self, token: impl Into<String>) -> Self {
        self.token = Some(token.into());
        self
    }
    pub fn namespace_delete_delay(mut self, d: Duration) -> Self {
        self.namespace_delete_delay = d;
        self
    }
    pub fn pod_ready_delay(mut self, d: Duration) -> Self {
        self.pod_ready_delay = d;
        self
    }
    pub fn kubeconfig_path(mut self, p: impl Into<PathBuf>) -> Self {
        self.kubeconfig_path = Some(p.into());
        self
    }
    pub fn watch_history(mut self, n: usize) -> Self {
        self.watch_history = n;
        self
    }
    /// The version `/version` reports (and so what `helm template --kube-version` gets).
    pub fn git_version(mut self, v: impl Into<String>) -> Self {
        self.git_version = v.into();
        self
    }
    pub fn bookmark_interval(mut self, d: Duration) -> Self {
        self.bookmark_interval = d;
        self
    }
}

/// Per-pod state of the simulated kubelet.
#[derive(Debug, Clone)]
pub struct PodSim {
    pub created: Instant,
    pub created_wall: chrono::DateTime<chrono::Utc>,
    pub ip: String,
    pub events: std::collections::HashSet<String>,
}

#[derive(Debug, Default)]
pub struct Kubelet {
    pub pods: HashMap<String, PodSim>,
    pub next_pod_ip: u32,
    pub next_service_ip: u32,
    pub namespace_deleted: HashMap<String, Instant>,
    /// (involved object uid, reason, message) -> event name, for event aggregation.
    pub event_names: HashMap<(String, String, String), String>,
}

/// The shared state of one simulated cluster.
pub struct Sim {
    pub store: Mutex<Store>,
    pub registry: RwLock<Registry>,
    pub cfg: SimConfig,
    pub token: String,
    pub digests: Mutex<HashMap<String, String>>,
    pub kubelet: Mutex<Kubelet>,
    pub notify: Notify,
    pub started: Instant,
    /// PEM of the cluster CA (published in each namespace's `kube-root-ca.crt`).
    pub ca_pem: String,
    /// Tokens issued through the TokenRequest API, and whom they stand for (see `rbac`).
    pub service_account_tokens: Mutex<HashMap<String, rbac::ServiceAccount>>,
}

impl Sim {
    pub fn new(cfg: SimConfig, token: String, ca_pem: Option<String>) -> Arc<Self> {
        let sim = Arc::new(Sim {
            store: Mutex::new(Store::new(cfg.watch_history)),
            registry: RwLock::new(Registry::new()),
            cfg,
            token,
            digests: Mutex::new(HashMap::new()),
            kubelet: Mutex::new(Kubelet::default()),
            notify: Notify::new(),
            started: Instant::now(),
            ca_pem: ca_pem.unwrap_or_default(),
            service_account_tokens: Mutex::new(HashMap::new()),
        });
        defaults::bootstrap(&sim);
        sim
    }
}

/// A running simulated cluster. Dropping it shuts the server down.
pub struct SimHandle {
    sim: Arc<Sim>,
    url: String,
    addr: SocketAddr,
    ca_pem: Option<String>,
    kubeconfig_path: PathBuf,
    shutdown_tx: tokio_watch::Sender<bool>,
    server: Option<tokio::task::JoinHandle<()>>,
    _tempdir: Option<tempfile::TempDir>,
}

impl SimHandle {
    /// `https://127.0.0.1:PORT` (or `http://` without TLS).
    pub fn url(&self) -> &str {
        &self.url
    }
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }
    pub fn token(&self) -> &str {
        &self.sim.token
    }
    /// A token for an existing service account, held to its RBAC permissions (as the
    /// TokenRequest API issues one).
    pub fn service_account_token(&self, namespace: &str, name: &str) -> anyhow::Result<String> {
        rbac::issue_token(&self.sim, namespace, name).map_err(|e| anyhow::anyhow!(e.message))
    }
    /// PEM of the CA that signed the server certificate (`None` when serving plain HTTP).
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }
    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig_path
    }
    /// Makes pods running `image_ref` (exactly as written in the pod spec) report this digest
    /// in `status.containerStatuses[].imageID`.
    pub fn set_image_digest(&self, image_ref: &str, digest: &str) {
        let digest = if digest.starts_with("sha256:") {
            digest.to_string()
        } else {
            format!("sha256:{digest}")
        };
        self.sim.digests.lock().insert(image_ref.to_string(), digest);
        self.sim.notify.notify_one();
    }
    /// Direct access to the simulated cluster state (for tests).
    pub fn sim(&self) -> &Arc<Sim> {
        &self.sim
    }
    /// Stops serving and waits for the server task to end.
    pub async fn shutdown(mut self) {
        let _ = self.shutdown_tx.send(true);
        if let Some(h) = self.server.take() {
            let _ = h.await;
        }
    }
}

impl Drop for SimHandle {
    fn drop(&mut self) {
        let _ = self.shutdown_tx.send(true);
    }
}

pub fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..40)
        .map(|_| {
            let c = rng.random_range(0..36u8);
            (if c < 10 { b'0' + c } else { b'a' + c - 10 }) as char
        })
        .collect()
}

/// Renders a kubeconfig for the simulated cluster.
pub fn kubeconfig_yaml(url: &str, ca_pem: Option<&str>, token: &str) -> String {
    let ca = match ca_pem {
        Some(pem) => format!(
            "    certificate-authority-data: {}\n",
            base64::engine::general_purpose::STANDARD.encode(pem)
        ),
        None => String::new(),
    };
    format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: kube-sim\n  cluster:\n    server: {url}\n{ca}contexts:\n- name: kube-sim\n  context:\n    cluster: kube-sim\n    user: kube-sim\n    namespace: default\ncurrent-context: kube-sim\nusers:\n- name: kube-sim\n  user:\n    token: {token}\npreferences: {{}}\n"
    )
}

/// Starts a simulated cluster: binds, writes the kubeconfig, and serves in the background.
pub async fn start(cfg: SimConfig) -> anyhow::Result<SimHandle> {
    tls::install_ring();
    let token = cfg.token.clone().unwrap_or_else(random_token);
    let listener = TcpListener::bind(cfg.bind)
        .await
        .with_context(|| format!("binding {}", cfg.bind))?;
    let addr = listener.local_addr()?;
    let host = if addr.ip().is_unspecified() {
        "127.0.0.1".to_string()
    } else if addr.is_ipv6() {
        format!("[{}]", addr.ip())
    } else {
        addr.ip().to_string()
    };
    let pki = if cfg.tls {
        Some(tls::generate(Some(addr.ip()))?)
    } else {
        None
    };
    let url = format!(
        "{}://{host}:{}",
        if cfg.tls { "https" } else { "http" },
        addr.port()
    );
    let ca_pem = pki.as_ref().map(|p| p.ca_pem.clone());

    let (tempdir, kubeconfig_path) = match &cfg.kubeconfig_path {
        Some(p) => (None, p.clone()),
        None => {
            let dir = tempfile::Builder::new().prefix("kube-sim-").tempdir()?;
            let p = dir.path().join("kubeconfig");
            (Some(dir), p)
        }
    };
    if let Some(parent) = kubeconfig_path.parent() {
        std::fs::create_dir_all(parent).ok();
    }
    std::fs::write(&kubeconfig_path, kubeconfig_yaml(&url, ca_pem.as_deref(), &token))
        .with_context(|| format!("writing {}", kubeconfig_path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(&kubeconfig_path, std::fs::Permissions::from_mode(0o600));
    }

    let sim = Sim::new(cfg, token, ca_pem.clone());
    let (shutdown_tx, shutdown_rx) = tokio_watch::channel(false);
    let router = api::router(sim.clone());
    let acceptor = pki.map(|p| tokio_rustls::TlsAcceptor::from(p.server_config));
    let controller = tokio::spawn(controllers::run(sim.clone(), shutdown_rx.clone()));
    let server = tokio::spawn(serve(listener, router, acceptor, shutdown_rx, controller));

    Ok(SimHandle {
        sim,
        url,
        addr,
        ca_pem,
        kubeconfig_path,
        shutdown_tx,
        server: Some(server),
        _tempdir: tempdir,
    })
}

async fn serve(
    listener: TcpListener,
    router: axum::Router,
    acceptor: Option<tokio_rustls::TlsAcceptor>,
    mut shutdown: tokio_watch::Receiver<bool>,
    controller: tokio::task::JoinHandle<()>,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::server::conn::auto::Builder;
    use hyper_util::service::TowerToHyperService;

    let mut conns = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((tcp, _)) = accepted else { continue };
                let _ = tcp.set_nodelay(true);
                let svc = TowerToHyperService::new(router.clone());
                let acceptor = acceptor.clone();
                conns.spawn(async move {
                    let builder = Builder::new(TokioExecutor::new());
                    match acceptor {
                        Some(acc) => {
                            let Ok(Ok(tls)) = tokio::time::timeout(Duration::from_secs(10), acc.accept(tcp)).await else { return };
                            let _ = builder.serve_connection_with_upgrades(TokioIo::new(tls), svc).await;
                        }
                        None => {
                            let _ = builder.serve_connection_with_upgrades(TokioIo::new(tcp), svc).await;
                        }
                    }
                });
            }
        }
    }
    controller.abort();
    conns.shutdown().await;
}
