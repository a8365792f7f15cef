//! The server process itself: what `main` sets up before serving.

use crate::fixtures::{answers_health, free_port};
use std::{
    process::{Command, Stdio},
    time::Duration,
};

/// Transparent huge pages made the idle server's heap 50 MiB larger (a 2 MiB page is resident as
/// soon as one byte of it is touched); the server turns them off for its own process on Linux.
#[tokio::test]
async fn the_server_runs_without_transparent_huge_pages() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_server"))
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .arg("--data-dir")
        .arg(data.path())
        .args(["--admin-password", "process-test-password"])
        .env("RUST_LOG", "warn")
        .env("LEPTOS_OUTPUT_NAME", "o-neko")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the server binary runs");
    let started = answers_health(&format!("http://127.0.0.1:{port}"), Duration::from_secs(30)).await;
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(started, "the server did not start");
    let thp = status
        .lines()
        .find_map(|l| l.strip_prefix("THP_enabled:"))
        .map(str::trim);
    // Kernels before 5.0 do not report the flag; every kernel we run on does.
    assert_eq!(thp, Some("0"), "THP_enabled in /proc/<pid>/status");
}
