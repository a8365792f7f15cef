//! `kube-sim`: runs a simulated Kubernetes API server and prints its kubeconfig path.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

#[derive(Parser, Debug)]
#[command(
    name = "kube-sim",
    about = "Simulated Kubernetes API server (for tests and demos)"
)]
struct Args {
    /// Address to listen on (port 0 picks a free port).
    #[arg(long, default_value = "127.0.0.1:0", env = "KUBE_SIM_LISTEN")]
    listen: SocketAddr,
    /// Serve plain HTTP instead of HTTPS.
    #[arg(long)]
    http: bool,
    /// Bearer token clients must present (random by default).
    #[arg(long, env = "KUBE_SIM_TOKEN")]
    token: Option<String>,
    /// Where to write the kubeconfig (default: a new temporary directory).
    #[arg(long, env = "KUBE_SIM_KUBECONFIG")]
    kubeconfig: Option<PathBuf>,
    /// How long a deleted namespace stays Terminating.
    #[arg(long, default_value_t = 200)]
    namespace_delete_delay_ms: u64,
    /// How long pods take to become Running and Ready.
    #[arg(long, default_value_t = 300)]
    pod_ready_delay_ms: u64,
    /// Number of watch events kept for resuming watches.
    #[arg(long, default_value_t = 10_000)]
    watch_history: usize,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let mut cfg = kube_sim::SimConfig::default()
        .bind(args.listen)
        .tls(!args.http)
        .namespace_delete_delay(Duration::from_millis(args.namespace_delete_delay_ms))
        .pod_ready_delay(Duration::from_millis(args.pod_ready_delay_ms))
        .watch_history(args.watch_history);
    cfg.token = args.token;
    cfg.kubeconfig_path = args.kubeconfig;
    let handle = kube_sim::start(cfg).await?;
    println!("{}", handle.kubeconfig_path().display());
    eprintln!(
        "kube-sim serving {} (export KUBECONFIG={})",
        handle.url(),
        handle.kubeconfig_path().display()
    );
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
    handle.shutdown().await;
    Ok(())
}
