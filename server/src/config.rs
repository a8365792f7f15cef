//! Configuration from flags and environment variables. `--help` lists every option; the README's
//! configuration table is checked against it by a test.

use clap::{Parser, ValueEnum};
use std::{net::SocketAddr, path::PathBuf};

/// O-Neko: deploy every development version of your software into Kubernetes.
#[derive(Clone, Debug, Parser)]
#[command(name = "o-neko", version, about)]
pub struct Config {
    /// Address to listen on [default: LEPTOS_SITE_ADDR, else 127.0.0.1:3000].
    #[arg(long, env = "ONEKO_LISTEN")]
    pub listen: Option<SocketAddr>,

    /// Directory for the SQLite database and other state.
    #[arg(long, env = "ONEKO_DATA_DIR", default_value = "./data")]
    pub data_dir: PathBuf,

    /// Database URL, e.g. postgres://user:pass@host/db [default: SQLite file in the data directory].
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    pub database_url: Option<String>,

    /// Password for the `admin` user created on first start [default: random, printed once to the log].
    #[arg(long, env = "ONEKO_ADMIN_PASSWORD", hide_env_values = true)]
    pub admin_password: Option<String>,

    /// Key for secrets at rest: 32 bytes as base64 or 64 hex digits [default: the key file
    /// `secret.key` in the data directory, generated on first start; back it up].
    #[arg(long, env = "ONEKO_SECRET_KEY", hide_env_values = true)]
    pub secret_key: Option<String>,

    /// Public URL users reach O-Neko at; an https URL makes session cookies `Secure` on every
    /// request (without it they are `Secure` when a trusted proxy says the request came over https).
    #[arg(long, env = "ONEKO_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Log format.
    #[arg(long, env = "ONEKO_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Hours of inactivity after which a session expires.
    #[arg(long, env = "ONEKO_SESSION_HOURS", default_value_t = 12)]
    pub session_hours: i64,

    /// Failed logins allowed per username from one client address (and 4x that per client address
    /// across usernames) before that client's logins slow down; other clients are not affected.
    #[arg(long, env = "ONEKO_LOGIN_FREE_ATTEMPTS", default_value_t = 5)]
    pub login_free_attempts: u32,

    /// First delay after the free attempts are used up, in milliseconds; it doubles with every
    /// further failure, up to 15 minutes.
    #[arg(long, env = "ONEKO_LOGIN_BACKOFF_MS", default_value_t = 2000)]
    pub login_backoff_ms: u64,

    /// Proxies in front of O-Neko whose X-Forwarded-For and X-Forwarded-Proto headers are believed,
    /// as comma-separated address ranges (e.g. 10.0.0.0/8,fd00::/8): a request from one counts as
    /// coming from the rightmost forwarded address that is not itself a trusted proxy, and as https
    /// when the proxy says so (session cookie Secure) [default: none: the headers are ignored and
    /// the TCP peer is the client].
    #[arg(long, env = "ONEKO_TRUSTED_PROXIES", value_delimiter = ',')]
    pub trusted_proxies: Vec<crate::auth::proxy::Cidr>,

    /// Seconds between two polls of a project's image tags (projects may set their own).
    #[arg(long, env = "ONEKO_POLL_INTERVAL", default_value_t = 60, value_parser = clap::value_parser!(u64).range(5..=86400))]
    pub poll_interval: u64,

    /// Projects polled at the same time (at most half of them from one registry).
    #[arg(long, env = "ONEKO_POLL_CONCURRENCY", default_value_t = 8, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub poll_concurrency: u64,

    /// The helm v4 binary that renders charts.
    #[arg(long, env = "ONEKO_HELM", default_value = "helm")]
    pub helm: PathBuf,

    /// Seconds a helm call (pull, template) may take before it is stopped.
    #[arg(long, env = "ONEKO_HELM_TIMEOUT", default_value_t = 120, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub helm_timeout: u64,

    /// The Google Cloud Storage JSON API endpoint (an emulator's URL for testing).
    #[arg(
        long,
        env = "ONEKO_GCS_ENDPOINT",
        default_value = "https://storage.googleapis.com"
    )]
    pub gcs_endpoint: String,

    /// Kubeconfig of the cluster to deploy to [default: in-cluster service account when running
    /// in a pod, else ~/.kube/config if it exists, else no cluster].
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,

    /// Versions one server deploys or stops at the same time.
    #[arg(long, env = "ONEKO_DEPLOY_CONCURRENCY", default_value_t = 4, value_parser = clap::value_parser!(u64).range(1..=64))]
    pub deploy_concurrency: u64,

    /// Seconds a deploy step may wait (a hook Job, a namespace being deleted).
    #[arg(long, env = "ONEKO_DEPLOY_TIMEOUT", default_value_t = 300, value_parser = clap::value_parser!(u64).range(5..=3600))]
    pub deploy_timeout: u64,

    /// Seconds a server's claim on a version (while deploying or stopping it) lasts unless renewed;
    /// another replica takes over an unfinished one after that.
    #[arg(long, env = "ONEKO_LEASE_SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(3..=600))]
    pub lease_seconds: u64,

    /// This server's name in leases; replicas sharing a database need different ones [default: the host name].
    #[arg(long, env = "ONEKO_REPLICA_ID")]
    pub replica_id: Option<String>,

    /// Link to an external log viewer shown for each pod, with {namespace}, {pod} and {container},
    /// e.g. https://logs.example.com/?q=namespace:{namespace}+pod:{pod}.
    #[arg(long, env = "ONEKO_LOG_LINK")]
    pub log_link: Option<String>,

    /// Time zone for "until tonight" and "until the weekend" (an IANA name, e.g. Europe/Berlin).
    #[arg(long, env = "ONEKO_TIME_ZONE", default_value = "UTC")]
    pub time_zone: String,

    /// When a working day ends ("until tonight"), HH:MM in the time zone.
    #[arg(long, env = "ONEKO_END_OF_DAY", default_value = "23:59")]
    pub end_of_day: String,

    /// The last working day of the week ("until the weekend").
    #[arg(long, env = "ONEKO_LAST_WORKING_DAY", default_value = "friday")]
    pub last_working_day: String,

    /// What happens to a deployed version whose tag vanished from the registry.
    #[arg(long, env = "ONEKO_REMOVED_TAG_ACTION", value_enum, default_value_t = RemovedTagAction::Stop)]
    pub removed_tag_action: RemovedTagAction,

    /// Days a version whose tag vanished is kept (with its settings) before it is removed; its
    /// activity history stays.
    #[arg(long, env = "ONEKO_REMOVED_VERSION_RETENTION_DAYS", default_value_t = 7, value_parser = clap::value_parser!(u64).range(0..=3650))]
    pub removed_version_retention_days: u64,

    /// Days activity entries are kept.
    #[arg(long, env = "ONEKO_ACTIVITY_RETENTION_DAYS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..=3650))]
    pub activity_retention_days: u64,

    /// Seconds between two runs of the scheduler's jobs (timed stops, redeploys on image changes,
    /// clean-up, reconciliation); stops happen within this much after their time.
    #[arg(long, env = "ONEKO_SCHEDULER_INTERVAL", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=60))]
    pub scheduler_interval: u64,

    /// OpenID Connect issuer URL (e.g. https://login.example.com/realms/dev); turns single sign-on
    /// on. Register O-Neko at the provider with the redirect URI <public URL>/auth/oidc/callback.
    #[arg(long, env = "ONEKO_OIDC_ISSUER")]
    pub oidc_issuer: Option<String>,

    /// OpenID Connect client id [required with --oidc-issuer].
    #[arg(long, env = "ONEKO_OIDC_CLIENT_ID")]
    pub oidc_client_id: Option<String>,

    /// OpenID Connect client secret [default: none: a public client, protected by PKCE alone].
    #[arg(long, env = "ONEKO_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub oidc_client_secret: Option<String>,

    /// Scopes requested at sign-in, comma-separated (add the one that releases the groups claim,
    /// if the provider has one).
    #[arg(
        long,
        env = "ONEKO_OIDC_SCOPES",
        value_delimiter = ',',
        default_value = "openid,profile,email"
    )]
    pub oidc_scopes: Vec<String>,

    /// The claim (in the ID token, else from the userinfo endpoint) that holds a user's groups: a
    /// list of strings or one string.
    #[arg(long, env = "ONEKO_OIDC_ROLE_CLAIM", default_value = "groups")]
    pub oidc_role_claim: String,

    /// Groups mapped to roles, comma-separated GROUP=ROLE (e.g. platform=ADMIN,developers=DOER);
    /// a user gets the highest role any of their groups maps to, again at every sign-in.
    #[arg(long, env = "ONEKO_OIDC_ROLES", value_delimiter = ',')]
    pub oidc_roles: Vec<crate::auth::claims::RoleMapping>,

    /// Role of a user none of whose groups is mapped [default: none: such users are refused].
    #[arg(long, env = "ONEKO_OIDC_DEFAULT_ROLE", value_parser = crate::auth::claims::parse_role)]
    pub oidc_default_role: Option<app::model::Role>,

    /// Who may log in with a password: everyone, or (with single sign-on) only the break-glass user.
    #[arg(long, env = "ONEKO_PASSWORD_LOGIN", value_enum, default_value_t = PasswordLogin::Everyone)]
    pub password_login: PasswordLogin,

    /// The local user who may still log in with a password when --password-login is break-glass.
    #[arg(long, env = "ONEKO_BREAK_GLASS_USER", default_value = "admin")]
    pub break_glass_user: String,

    /// Demo mode: seed a sample project whose images and chart are pushed to this (loopback)
    /// registry on first start, and mark the cluster as simulated in the UI (`tools/run` sets it
    /// when it starts the simulated cluster).
    #[arg(long, env = "ONEKO_DEMO_REGISTRY")]
    pub demo_registry: Option<String>,
}

/// What the scheduler does with a deployed version whose tag vanished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum RemovedTagAction {
    /// Stop it.
    Stop,
    /// Keep it running, and warn (activity log and status).
    Keep,
}

/// Who may log in with a username and password.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PasswordLogin {
    /// Every local user.
    Everyone,
    /// Only `--break-glass-user` (for when the identity provider is down); everyone else signs in
    /// with OpenID Connect.
    BreakGlass,
}

/// How logs are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

impl Config {
    /// The database URL to connect to.
    pub fn database_url(&self) -> String {
        match &self.database_url {
            Some(url) => url.clone(),
            None => format!("sqlite://{}?mode=rwc", self.data_dir.join("o-neko.db").display()),
        }
    }

    /// Makes every configured path absolute, once, before anything uses one. Helm runs in a
    /// working directory of its own, so a relative path handed to it (the chart cache under
    /// `./data`) would point nowhere; nothing after this depends on the working directory.
    /// The data directory is created if missing (its parent must exist).
    pub fn resolve_paths(&mut self) -> anyhow::Result<()> {
        std::fs::create_dir_all(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "the data directory {} cannot be created: {e}",
                self.data_dir.display()
            )
        })?;
        self.data_dir = std::fs::canonicalize(&self.data_dir).map_err(|e| {
            anyhow::anyhow!(
                "the data directory {} cannot be resolved: {e}",
                self.data_dir.display()
            )
        })?;
        if let Some(kubeconfig) = &self.kubeconfig {
            // Not canonicalized: a missing kubeconfig is reported by the cluster connection,
            // which O-Neko survives (it runs without a cluster and says why).
            self.kubeconfig = Some(absolute(kubeconfig, "--kubeconfig")?);
        }
        // A bare command name is looked up on PATH; anything with a directory part is a path.
        if self.helm.components().count() > 1 {
            self.helm = absolute(&self.helm, "--helm")?;
        }
        Ok(())
    }

    /// This replica's name in leases.
    pub fn replica(&self) -> String {
        self.replica_id.clone().unwrap_or_else(|| {
            std::fs::read_to_string("/proc/sys/kernel/hostname")
                .map(|h| h.trim().to_owned())
                .ok()
                .filter(|h| !h.is_empty())
                .unwrap_or_else(|| "o-neko".into())
        })
    }

    /// Whether cookies must carry the `Secure` attribute.
    pub fn secure_cookies(&self) -> bool {
        self.public_url
            .as_deref()
            .is_some_and(|u| u.starts_with("https://"))
    }

    /// Defaults for tests: everything explicit, nothing read from the environment.
    pub fn for_tests(data_dir: PathBuf, database_url: Option<String>) -> Self {
        Config {
            listen: Some(SocketAddr::from(([127, 0, 0, 1], 0))),
            data_dir,
            database_url,
            admin_password: None,
            secret_key: None,
            public_url: None,
            log_format: LogFormat::Text,
            session_hours: 12,
            login_free_attempts: 5,
            login_backoff_ms: 2000,
            trusted_proxies: vec![],
            poll_interval: 60,
            poll_concurrency: 8,
            helm: PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tools/bin/helm"),
            helm_timeout: 60,
            gcs_endpoint: "https://storage.googleapis.com".into(),
            kubeconfig: None,
            deploy_concurrency: 4,
            deploy_timeout: 60,
            lease_seconds: 30,
            replica_id: None,
            log_link: None,
            demo_registry: None,
            oidc_issuer: None,
            oidc_client_id: None,
            oidc_client_secret: None,
            oidc_scopes: vec!["openid".into(), "profile".into(), "email".into()],
            oidc_role_claim: "groups".into(),
            oidc_roles: vec![],
            oidc_default_role: None,
            password_login: PasswordLogin::Everyone,
            break_glass_user: "admin".into(),
            time_zone: "UTC".into(),
            end_of_day: "23:59".into(),
            last_working_day: "friday".into(),
            removed_tag_action: RemovedTagAction::Stop,
            removed_version_retention_days: 7,
            activity_retention_days: 30,
            scheduler_interval: 1,
        }
    }
}

/// `path` made absolute against the working directory at start.
pub fn absolute(path: &std::path::Path, what: &str) -> anyhow::Result<PathBuf> {
    std::path::absolute(path)
        .map_err(|e| anyhow::anyhow!("{what} {} cannot be made absolute: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::Config;
    use clap::CommandFactory;

    /// The README's configuration table and `--help` must list the same options.
    #[test]
    fn readme_table_matches_help() {
        let readme = include_str!("../../README.md");
        let table: Vec<(String, String)> = readme
            .lines()
            .filter(|l| l.starts_with("| `--"))
            .map(|l| {
                let cells: Vec<&str> = l.split('|').map(|c| c.trim().trim_matches('`')).collect();
                (cells[1].to_owned(), cells[2].to_owned())
            })
            .collect();
        let cmd = Config::command();
        let from_help: Vec<(String, String)> = cmd
            .get_arguments()
            .filter_map(|a| {
                let long = a.get_long()?;
                let env = a.get_env()?.to_str()?.to_owned();
                Some((format!("--{long}"), env))
            })
            .collect();
        for row in &from_help {
            assert!(table.contains(row), "README configuration table lacks {row:?}");
        }
        for row in &table {
            assert!(
                from_help.contains(row),
                "README lists {row:?}, which --help does not have"
            );
        }
    }

    /// Trusted proxies are a comma-separated list of address ranges; a bad one is refused with
    /// what is wrong.
    #[test]
    fn trusted_proxies_parse() {
        use clap::Parser;
        let c = Config::try_parse_from(["o-neko"]).unwrap();
        assert!(c.trusted_proxies.is_empty(), "none by default");
        let c = Config::try_parse_from(["o-neko", "--trusted-proxies", "10.0.0.0/8, 127.0.0.1,fd00::/8"])
            .unwrap();
        let shown: Vec<String> = c.trusted_proxies.iter().map(ToString::to_string).collect();
        assert_eq!(shown, ["10.0.0.0/8", "127.0.0.1/32", "fd00::/8"]);
        let err = Config::try_parse_from(["o-neko", "--trusted-proxies", "10.0.0.0/8,ingress"])
            .unwrap_err()
            .to_string();
        assert!(err.contains("'ingress' is not an address range"), "{err}");
    }

    /// Relative paths become absolute under the working directory; a data directory that
    /// cannot be created is a clear error.
    #[test]
    fn relative_paths_are_made_absolute() {
        let cwd = std::env::current_dir().unwrap();
        let scratch = tempfile::tempdir_in(&cwd).unwrap();
        let rel = scratch.path().strip_prefix(&cwd).unwrap().join("data");
        let mut config = Config::for_tests(rel.clone(), None);
        config.kubeconfig = Some("kube/config".into());
        config.helm = "tools/bin/helm".into();
        config.resolve_paths().unwrap();
        assert!(config.data_dir.is_absolute() && config.data_dir.is_dir());
        assert_eq!(config.data_dir, std::fs::canonicalize(cwd.join(&rel)).unwrap());
        assert_eq!(config.kubeconfig.unwrap(), cwd.join("kube/config"));
        assert_eq!(config.helm, cwd.join("tools/bin/helm"));

        let mut bare = Config::for_tests(rel, None);
        bare.helm = "helm".into();
        bare.resolve_paths().unwrap();
        assert_eq!(
            bare.helm,
            std::path::PathBuf::from("helm"),
            "a bare name stays a PATH lookup"
        );

        let file = scratch.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        let mut blocked = Config::for_tests(file.join("data"), None);
        let err = blocked.resolve_paths().unwrap_err().to_string();
        assert!(err.contains("cannot be created"), "{err}");
    }
}
