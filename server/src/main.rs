//! The O-Neko server binary: flags → logging → [`server::start`] → wait for SIGTERM.

use clap::Parser;
use server::config::Config;

// glibc's malloc keeps freed memory in per-thread arenas and raises its mmap threshold after a
// large free, so each login's 19 MiB argon2 buffer stayed resident; mimalloc hands freed pages
// back to the system shortly after (measured by `cargo bench -p server --bench memory`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    // Where the kernel backs memory with transparent huge pages ("always", as on many hosts), a
    // 2 MiB page becomes resident when one byte of it is touched: mimalloc's sparse arena held
    // 50 MiB of huge pages right after start (40 MiB RSS without them). Off for this process,
    // before the runtime's threads start.
    #[cfg(target_os = "linux")]
    if let Err(e) = nix::sys::prctl::set_thp_disable(true) {
        eprintln!("could not turn transparent huge pages off for this process: {e}");
    }
    let config = Config::parse();
    tokio::runtime::Runtime::new()?.block_on(async {
        server::telemetry::init(config.log_format);
        let running = server::start(config).await?;
        running.wait().await
    })
}
