//! The cluster O-Neko deploys to, reached through kube-rs: a kubeconfig (`--kubeconfig` or
//! `KUBECONFIG`), the in-cluster service account, or `~/.kube/config`. Tests and the demo point
//! it at the simulated cluster (`kube-sim`) through a kubeconfig, so the same code runs.

pub mod apply;
pub mod health;
pub mod logs;
pub mod manifests;
pub mod namespaces;
pub mod policy;
pub mod watch;

use kube::{
    Client,
    config::{KubeConfigOptions, Kubeconfig},
};
use std::path::{Path, PathBuf};

/// A connection to the cluster, or why there is none.
#[derive(Clone)]
pub struct Cluster {
    client: Option<Client>,
    /// Where the configuration came from, for people.
    pub source: String,
}

impl Cluster {
    /// No cluster: deploying and namespace administration say so.
    pub fn none(why: impl Into<String>) -> Self {
        Cluster {
            client: None,
            source: why.into(),
        }
    }

    /// Connects as configured: an explicit kubeconfig, else in-cluster, else `~/.kube/config`.
    pub async fn connect(kubeconfig: Option<&Path>) -> anyhow::Result<Self> {
        let (config, source) = match kubeconfig {
            Some(path) => (from_file(path).await?, format!("kubeconfig {}", path.display())),
            None if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => (
                kube::Config::incluster()?,
                "the in-cluster service account".to_string(),
            ),
            None => {
                let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_default();
                let default = home.join(".kube/config");
                if !default.exists() {
                    return Ok(Cluster::none(
                        "no cluster is configured (set --kubeconfig or KUBECONFIG, or run in a pod)",
                    ));
                }
                (
                    from_file(&default).await?,
                    format!("kubeconfig {}", default.display()),
                )
            }
        };
        let client = Client::try_from(config)?;
        Ok(Cluster {
            client: Some(client),
            source,
        })
    }

    /// The client, or an error that says no cluster is configured.
    pub fn client(&self) -> Result<Client, String> {
        self.client
            .clone()
            .ok_or_else(|| format!("No Kubernetes cluster: {}.", self.source))
    }
}

async fn from_file(path: &Path) -> anyhow::Result<kube::Config> {
    let kc = Kubeconfig::read_from(path)
        .map_err(|e| anyhow::anyhow!("reading kubeconfig {}: {e}", path.display()))?;
    Ok(kube::Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?)
}

/// An API error in words: the server's message and reason, or the transport failure.
pub fn describe(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("the cluster answered {} {}: {}", s.code, s.reason, s.message),
        other => format!("the cluster could not be reached: {other}"),
    }
}

/// The HTTP status of an API error, if it is one.
pub fn status(e: &kube::Error) -> Option<u16> {
    match e {
        kube::Error::Api(s) => Some(s.code),
        _ => None,
    }
}
