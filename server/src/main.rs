//! The O-Neko server binary: flags → logging → [`server::start`] → wait for SIGTERM.

use clap::Parser;
use server::config::Config;

// glibc's malloc keeps freed memory in per-thread arenas and raises its mmap threshold after a
// large free, so each login's 19 MiB argon2 buffer stayed resident; mimalloc hands freed pages
// back to the system shortly after (measured by `cargo bench -p server --bench memory`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    server::telemetry::init(config.log_format);
    let running = server::start(config).await?;
    running.wait().await
}
