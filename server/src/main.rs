//! The O-Neko server binary: flags → logging → [`server::start`] → wait for SIGTERM.

use clap::Parser;
use server::config::Config;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    server::telemetry::init(config.log_format);
    let running = server::start(config).await?;
    running.wait().await
}
