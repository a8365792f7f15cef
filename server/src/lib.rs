//! O-Neko's server: configuration, database, authentication, the HTTP router and background
//! tasks. `main.rs` only parses flags and calls [`serve`]; tests call [`start`] on port 0.

pub mod activity;
pub mod auth;
pub mod cluster;
pub mod config;
pub mod db;
pub mod demo;
pub mod deploy;
pub mod error;
pub mod helm;
pub mod http;
pub mod lease;
pub mod live;
pub mod metrics;
pub mod names;
pub mod projects;
pub mod registry;
pub mod render;
pub mod rest;
pub mod scheduler;
pub mod secrets;
pub mod session_store;
pub mod sso;
pub mod state;
pub mod telemetry;
pub mod tokens;
pub mod users;
pub mod versions;

use crate::{
    activity::SqlActivityLog,
    auth::throttle::LoginThrottle,
    config::Config,
    helm::{HelmConfig, registries::SqlHelmRegistries},
    projects::{SqlProjects, poller::Poller, webhook::Hooks},
    registry::SqlRegistries,
    secrets::SecretBox,
    session_store::DbSessionStore,
    state::AppState,
    users::SqlUsers,
};
use anyhow::Context;
use std::{net::SocketAddr, sync::Arc, time::Duration};
use tokio::{net::TcpListener, sync::watch, task::JoinHandle};
use tower_sessions::ExpiredDeletion;

/// A server started by [`start`].
pub struct Running {
    /// The bound address (the real port when 0 was asked for).
    pub addr: SocketAddr,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<anyhow::Result<()>>,
}

impl Running {
    /// Stops accepting, finishes open requests and waits for the server to end.
    pub async fn shutdown(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(true);
        self.task.await.context("server task panicked")?
    }

    /// Waits until the server ends on its own (after a signal).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task panicked")?
    }
}

/// The ways in: local users (passwords, unless only the break-glass user keeps one) and, when
/// configured, single sign-on. A half configuration is an error.
fn logins(
    config: &Config,
    db: &sea_orm::DatabaseConnection,
    throttle: Arc<LoginThrottle>,
) -> anyhow::Result<(Arc<SqlUsers>, Option<Arc<sso::Oidc>>, app::ssr::LoginMethods)> {
    let settings = sso::OidcSettings::from_config(config)?;
    let break_glass = config.password_login == config::PasswordLogin::BreakGlass;
    let mut users = SqlUsers::new(db.clone(), throttle)?;
    if break_glass {
        users = users.break_glass_only(&config.break_glass_user);
    }
    let users = Arc::new(users);
    let login = app::ssr::LoginMethods {
        single_sign_on: settings.is_some(),
        break_glass_only: break_glass,
    };
    let oidc = match settings {
        Some(settings) => Some(Arc::new(sso::Oidc::new(settings, users.clone())?)),
        None => None,
    };
    Ok((users, oidc, login))
}

/// Connects the database, migrates, bootstraps the first admin and starts serving.
pub async fn start(mut config: Config) -> anyhow::Result<Running> {
    // One crypto provider for the whole process (ring); ignore "already installed" in tests.
    let _ = rustls::crypto::ring::default_provider().install_default();

    config.resolve_paths()?;
    let url = config.database_url();
    let db = db::connect_and_migrate(&url).await?;
    tracing::info!(database = %db::redact(&url), "database ready");

    bootstrap_admin(&db, config.admin_password.as_deref()).await?;

    let leptos = leptos_options(&config)?;

    let throttle = Arc::new(LoginThrottle::new(
        config.login_free_attempts,
        Duration::from_millis(config.login_backoff_ms),
    ));
    let sessions = DbSessionStore::new(db.clone());
    let secrets = SecretBox::load(config.secret_key.as_deref(), &config.data_dir)?;
    let registries = Arc::new(SqlRegistries {
        db: db.clone(),
        secrets: secrets.clone(),
    });
    let helm_registries = Arc::new(SqlHelmRegistries::new(
        db.clone(),
        secrets,
        HelmConfig {
            binary: config.helm.clone(),
            timeout: Duration::from_secs(config.helm_timeout),
        },
        config.data_dir.join("cache"),
        config.gcs_endpoint.clone(),
    ));
    let (shutdown, stop) = watch::channel(false);
    // Checked before anything starts: bad lifetime settings stop the server with a clear error.
    let deploy_config = deploy_config(&config)?;
    let leadership = lease::Leadership::default();
    let poller = Arc::new(
        Poller::new(
            db.clone(),
            registries.clone(),
            Duration::from_secs(config.poll_interval),
            config.poll_concurrency as usize,
        )
        .led_by(leadership.clone()),
    );
    let cluster = connect_cluster(&config).await;

    let (live, changed) = cluster::watch::Live::start(cluster.client().ok(), stop.clone());
    let deployer = Arc::new(deploy::Deployer::new(
        db.clone(),
        cluster.clone(),
        helm_registries.clone(),
        registries.clone(),
        live,
        deploy_config,
    ));
    let scheduler = Arc::new(scheduler::Scheduler::new(
        db.clone(),
        deployer.clone(),
        scheduler_config(&config),
        leadership.clone(),
    ));
    let (users, oidc, login) = logins(&config, &db, throttle)?;
    let tokens = Arc::new(tokens::SqlTokens::new(db.clone()));
    let state = AppState {
        users,
        oidc,
        login,
        tokens: tokens.clone(),
        registries: registries.clone(),
        activity: Arc::new(SqlActivityLog { db: db.clone() }),
        projects: Arc::new(SqlProjects {
            db: db.clone(),
            poller: poller.clone(),
            helm: helm_registries.clone(),
            deployer: deployer.clone(),
        }),
        helm_registries,
        namespaces: Arc::new(cluster::namespaces::SqlNamespaces {
            db: db.clone(),
            cluster,
            simulated: config.demo_registry.is_some(),
        }),
        hooks: Hooks {
            db: db.clone(),
            registries,
            poller: poller.clone(),
        },
        deployments: deployer.clone(),
        deployer: deployer.clone(),
        leadership,
        config: Arc::new(config),
        leptos: leptos.clone(),
        db,
        sessions: sessions.clone(),
    };

    let listener = TcpListener::bind(leptos.site_addr)
        .await
        .with_context(|| format!("binding {}", leptos.site_addr))?;
    let addr = listener.local_addr()?;

    spawn_session_cleanup(sessions, stop.clone());

    spawn_demo(&state);

    tokio::spawn(poller.run(stop.clone()));
    tokio::spawn(deployer.run(stop.clone(), changed));
    tokio::spawn(scheduler.run(stop.clone()));

    let app = http::router(state).into_make_service_with_connect_info::<SocketAddr>();
    let task = spawn_server(listener, app, stop, tokens);
    tracing::info!(%addr, "O-Neko listening on http://{addr}");
    Ok(Running { addr, shutdown, task })
}

/// How deploys run, from the configuration; an error names bad lifetime settings.
fn deploy_config(config: &Config) -> anyhow::Result<deploy::DeployConfig> {
    let clock =
        versions::lifetime::Clock::new(&config.time_zone, &config.end_of_day, &config.last_working_day)
            .map_err(|e| {
                anyhow::anyhow!("the lifetime settings (--time-zone, --end-of-day, --last-working-day): {e}")
            })?;
    Ok(deploy::DeployConfig {
        concurrency: config.deploy_concurrency as usize,
        timeout: Duration::from_secs(config.deploy_timeout),
        lease: Duration::from_secs(config.lease_seconds),
        replica: config.replica(),
        log_link: config.log_link.clone(),
        clock,
    })
}

/// How the scheduler runs, from the configuration.
fn scheduler_config(config: &Config) -> scheduler::SchedulerConfig {
    scheduler::SchedulerConfig {
        interval: Duration::from_secs(config.scheduler_interval),
        lease: Duration::from_secs(config.lease_seconds),
        replica: config.replica(),
        removed_tag_action: config.removed_tag_action,
        removed_retention: chrono::Duration::days(config.removed_version_retention_days as i64),
        activity_retention: chrono::Duration::days(config.activity_retention_days as i64),
    }
}

/// Creates the first admin on an empty database, and says so.
async fn bootstrap_admin(db: &sea_orm::DatabaseConnection, password: Option<&str>) -> anyhow::Result<()> {
    match users::bootstrap_admin(db, password).await? {
        Some(Some(generated)) => tracing::warn!(
            "created the first user 'admin' with the generated password {generated} \
             (shown only this once; change it after logging in)"
        ),
        Some(None) => tracing::info!("created the first user 'admin' with ONEKO_ADMIN_PASSWORD"),
        None => {}
    }
    Ok(())
}

/// Leptos' options (from Cargo.toml or its environment variables), with `--listen` and an
/// absolute site root.
fn leptos_options(config: &Config) -> anyhow::Result<leptos::config::LeptosOptions> {
    let mut leptos = leptos::config::get_configuration(None)
        .context("reading Leptos configuration")?
        .leptos_options;
    if let Some(listen) = config.listen {
        leptos.site_addr = listen;
    }
    leptos.site_root = config::absolute(std::path::Path::new(&*leptos.site_root), "LEPTOS_SITE_ROOT")?
        .to_string_lossy()
        .as_ref()
        .into();
    if leptos.output_name.is_empty() {
        // Built without cargo-leptos (plain `cargo test`): use the bundle name it would set.
        leptos.output_name = "o-neko".into();
    }
    Ok(leptos)
}

/// The cluster as configured; a configuration that cannot be used is logged and leaves the
/// server running without one (deploying then says why).
async fn connect_cluster(config: &Config) -> cluster::Cluster {
    let cluster = match cluster::Cluster::connect(config.kubeconfig.as_deref()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "the cluster configuration cannot be used");
            cluster::Cluster::none(format!("the cluster configuration cannot be used: {e}"))
        }
    };
    tracing::info!(cluster = %cluster.source, "cluster");
    cluster
}

/// Deletes expired sessions hourly (loading ignores them anyway).
fn spawn_session_cleanup(sessions: DbSessionStore, mut stop_cleanup: watch::Receiver<bool>) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(3600));
        loop {
            tokio::select! {
                _ = tick.tick() => {
                    if let Err(e) = sessions.delete_expired().await {
                        tracing::warn!(error = %e, "deleting expired sessions failed");
                    }
                }
                _ = stop_cleanup.changed() => break,
            }
        }
    });
}

/// Seeds the demo project in the background, with `--demo-registry`.
fn spawn_demo(state: &AppState) {
    if let Some(registry) = state.config.demo_registry.clone() {
        let state = state.clone();
        let helm = HelmConfig {
            binary: state.config.helm.clone(),
            timeout: Duration::from_secs(state.config.helm_timeout),
        };
        tokio::spawn(async move {
            if let Err(e) = demo::seed(&state, &registry, &helm).await {
                tracing::error!(error = %e, "seeding the demo failed");
            }
        });
    }
}

/// Serves HTTP until `stop` turns true or a signal arrives, then finishes open requests.
fn spawn_server(
    listener: TcpListener,
    app: axum::extract::connect_info::IntoMakeServiceWithConnectInfo<axum::Router, SocketAddr>,
    mut stop: watch::Receiver<bool>,
    tokens: Arc<tokens::SqlTokens>,
) -> JoinHandle<anyhow::Result<()>> {
    tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(async move {
                tokio::select! {
                    _ = stop.changed() => {}
                    _ = shutdown_signal() => {}
                }
                tracing::info!("shutting down");
            })
            .await
            .context("serving HTTP");
        tokens.flush().await;
        served
    })
}

/// SIGTERM or Ctrl-C.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}
