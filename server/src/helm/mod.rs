//! ② Runs the `helm` CLI: one runner module for every helm call. Each [`HelmRun`] gets its own
//! `HELM_CONFIG_HOME`/`HELM_CACHE_HOME`/`HELM_DATA_HOME` in a private temp directory, so repos and
//! logins never leak between runs; secrets reach helm only through 0600 files fed to
//! `--password-stdin` (never argv, never logs) and vanish with the directory; every call has a
//! timeout and its stderr becomes the error.

pub mod gcs;
pub mod index;
pub mod registries;

use std::{
    fmt,
    path::{Path, PathBuf},
    process::Stdio,
    time::Duration,
};
use tempfile::TempDir;
use tokio::process::Command;

/// Where helm is and how long a call may take.
#[derive(Clone, Debug)]
pub struct HelmConfig {
    pub binary: PathBuf,
    pub timeout: Duration,
}

impl Default for HelmConfig {
    fn default() -> Self {
        HelmConfig {
            binary: "helm".into(),
            timeout: Duration::from_secs(120),
        }
    }
}

/// A failed helm call.
#[derive(Debug)]
pub enum HelmError {
    /// helm could not be started (missing binary, permissions).
    Spawn { binary: PathBuf, message: String },
    /// helm ran longer than the timeout and was killed.
    Timeout { command: String, seconds: u64 },
    /// helm exited non-zero; `stderr` is its explanation.
    Failed {
        command: String,
        code: Option<i32>,
        stderr: String,
    },
    /// Preparing files for helm failed.
    Io(String),
}

impl fmt::Display for HelmError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HelmError::Spawn { binary, message } => write!(f, "cannot run {}: {message}", binary.display()),
            HelmError::Timeout { command, seconds } => {
                write!(f, "`{command}` did not finish within {seconds} s")
            }
            HelmError::Failed {
                command,
                code,
                stderr,
            } => {
                let code = code.map(|c| c.to_string()).unwrap_or_else(|| "signal".into());
                write!(f, "`{command}` failed (exit {code}): {}", stderr.trim())
            }
            HelmError::Io(m) => write!(f, "preparing the helm call failed: {m}"),
        }
    }
}

impl std::error::Error for HelmError {}

/// Registry credentials for one helm call.
#[derive(Clone)]
pub struct HelmCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for HelmCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HelmCredentials")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// Options of `helm template`, turned into flags by a pure function.
#[derive(Clone, Debug, PartialEq)]
pub struct TemplateOpts {
    pub release_name: String,
    /// A local chart path (`.tgz` or directory) or `repo/chart`.
    pub chart: String,
    pub namespace: String,
    pub values_files: Vec<PathBuf>,
    pub kube_version: Option<String>,
    pub include_crds: bool,
    pub version: Option<String>,
}

impl TemplateOpts {
    /// The argument list for `helm template` (no secrets ever appear here).
    pub fn to_args(&self) -> Vec<String> {
        let mut args = vec![
            "template".into(),
            self.release_name.clone(),
            self.chart.clone(),
            "--namespace".into(),
            self.namespace.clone(),
        ];
        for f in &self.values_files {
            args.push("--values".into());
            args.push(f.display().to_string());
        }
        if let Some(v) = &self.kube_version {
            args.push("--kube-version".into());
            args.push(v.clone());
        }
        if self.include_crds {
            args.push("--include-crds".into());
        }
        if let Some(v) = self.version.as_deref().filter(|v| !v.is_empty()) {
            args.push("--version".into());
            args.push(v.into());
        }
        args
    }
}

/// One isolated helm session: its own config, cache and data directories.
pub struct HelmRun {
    config: HelmConfig,
    home: TempDir,
}

impl HelmRun {
    /// A fresh session with empty helm directories.
    pub fn new(config: HelmConfig) -> Result<Self, HelmError> {
        let home = tempfile::Builder::new()
            .prefix("o-neko-helm-")
            .tempdir()
            .map_err(|e| HelmError::Io(e.to_string()))?;
        for d in ["config", "cache", "data"] {
            std::fs::create_dir(home.path().join(d)).map_err(|e| HelmError::Io(e.to_string()))?;
        }
        Ok(HelmRun { config, home })
    }

    /// The session's private directory (removed when the session is dropped).
    pub fn dir(&self) -> &Path {
        self.home.path()
    }

    /// Writes `content` to a new file readable only by us, inside the session directory.
    pub fn private_file(&self, name: &str, content: &[u8]) -> Result<PathBuf, HelmError> {
        use std::io::Write;
        let path = self.home.path().join(name);
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts
            .open(&path)
            .map_err(|e| HelmError::Io(format!("{name}: {e}")))?;
        f.write_all(content)
            .map_err(|e| HelmError::Io(format!("{name}: {e}")))?;
        Ok(path)
    }

    /// Runs helm with `args`; `stdin` (a file) is fed to it. Returns stdout.
    pub async fn run(&self, args: &[String], stdin: Option<&Path>) -> Result<String, HelmError> {
        let command = format!("helm {}", args.join(" "));
        tracing::debug!(%command, "running helm");
        let h = self.home.path();
        let mut cmd = Command::new(&self.config.binary);
        cmd.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", h)
            .env("HELM_CONFIG_HOME", h.join("config"))
            .env("HELM_CACHE_HOME", h.join("cache"))
            .env("HELM_DATA_HOME", h.join("data"))
            .env("HELM_REGISTRY_CONFIG", h.join("config/registry.json"))
            .env("HELM_REPOSITORY_CONFIG", h.join("config/repositories.yaml"))
            .env("HELM_REPOSITORY_CACHE", h.join("cache/repository"))
            .current_dir(h)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match stdin {
            Some(p) => {
                let f = std::fs::File::open(p).map_err(|e| HelmError::Io(e.to_string()))?;
                cmd.stdin(Stdio::from(f));
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let child = cmd.spawn().map_err(|e| HelmError::Spawn {
            binary: self.config.binary.clone(),
            message: e.to_string(),
        })?;
        let output = match tokio::time::timeout(self.config.timeout, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| HelmError::Io(e.to_string()))?,
            // Dropping the future drops the child, which kill_on_drop kills.
            Err(_) => {
                return Err(HelmError::Timeout {
                    command,
                    seconds: self.config.timeout.as_secs(),
                });
            }
        };
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(HelmError::Failed {
                command,
                code: output.status.code(),
                stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
            })
        }
    }

    /// `helm repo add` for an HTTP(S) chart repository; the password goes through a private file.
    pub async fn repo_add(
        &self,
        name: &str,
        url: &str,
        credentials: Option<&HelmCredentials>,
        ca_pem: Option<&str>,
    ) -> Result<(), HelmError> {
        let mut args: Vec<String> = vec!["repo".into(), "add".into(), name.into(), url.into()];
        let mut stdin = None;
        if let Some(c) = credentials {
            stdin = Some(self.private_file(&format!("{name}.password"), c.password.as_bytes())?);
            args.extend(["--username".into(), c.username.clone(), "--password-stdin".into()]);
        }
        if let Some(pem) = ca_pem {
            let ca = self.private_file(&format!("{name}.ca.pem"), pem.as_bytes())?;
            args.extend(["--ca-file".into(), ca.display().to_string()]);
        }
        let result = self.run(&args, stdin.as_deref()).await.map(|_| ());
        if let Some(p) = stdin {
            let _ = std::fs::remove_file(p);
        }
        result
    }

    /// `helm registry login` for an OCI registry host; the password goes through a private file.
    pub async fn registry_login(
        &self,
        host: &str,
        credentials: &HelmCredentials,
        plain_http: bool,
        ca_pem: Option<&str>,
    ) -> Result<(), HelmError> {
        let stdin = self.private_file("registry.password", credentials.password.as_bytes())?;
        let mut args: Vec<String> = vec![
            "registry".into(),
            "login".into(),
            host.into(),
            "--username".into(),
            credentials.username.clone(),
            "--password-stdin".into(),
        ];
        if plain_http {
            args.push("--plain-http".into());
        }
        if let Some(pem) = ca_pem {
            let ca = self.private_file("registry.ca.pem", pem.as_bytes())?;
            args.extend(["--ca-file".into(), ca.display().to_string()]);
        }
        let result = self.run(&args, Some(&stdin)).await.map(|_| ());
        let _ = std::fs::remove_file(stdin);
        result
    }

    /// `helm pull` into the session directory; returns the path of the chart archive.
    pub async fn pull(
        &self,
        chart: &str,
        version: Option<&str>,
        plain_http: bool,
        ca_pem: Option<&str>,
    ) -> Result<PathBuf, HelmError> {
        let dest = self
            .home
            .path()
            .join(format!("pull-{:08x}", rand::random::<u32>()));
        std::fs::create_dir(&dest).map_err(|e| HelmError::Io(e.to_string()))?;
        let mut args: Vec<String> = vec![
            "pull".into(),
            chart.into(),
            "--destination".into(),
            dest.display().to_string(),
        ];
        if let Some(v) = version.filter(|v| !v.is_empty()) {
            args.extend(["--version".into(), v.into()]);
        }
        if plain_http {
            args.push("--plain-http".into());
        }
        if let Some(pem) = ca_pem {
            let ca = self.private_file(
                &format!("pull-ca-{:08x}.pem", rand::random::<u32>()),
                pem.as_bytes(),
            )?;
            args.extend(["--ca-file".into(), ca.display().to_string()]);
        }
        self.run(&args, None).await?;
        let entry = std::fs::read_dir(&dest)
            .map_err(|e| HelmError::Io(e.to_string()))?
            .filter_map(Result::ok)
            .find(|e| e.path().extension().is_some_and(|x| x == "tgz"))
            .ok_or_else(|| HelmError::Io(format!("helm pull {chart} produced no chart archive")))?;
        Ok(entry.path())
    }

    /// `helm template` with `values` written to a private values file. Returns the manifests.
    pub async fn template(&self, mut opts: TemplateOpts, values: &str) -> Result<String, HelmError> {
        let file = self.private_file(
            &format!("values-{:08x}.yaml", rand::random::<u32>()),
            values.as_bytes(),
        )?;
        opts.values_files.push(file.clone());
        let result = self.run(&opts.to_args(), None).await;
        let _ = std::fs::remove_file(file);
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn template_flags() {
        let opts = TemplateOpts {
            release_name: "web".into(),
            chart: "/tmp/demo-1.0.0.tgz".into(),
            namespace: "on-shop-main".into(),
            values_files: vec!["/tmp/v.yaml".into()],
            kube_version: Some("v1.35.0".into()),
            include_crds: true,
            version: Some("1.2.3+build.5".into()),
        };
        assert_eq!(
            opts.to_args(),
            [
                "template",
                "web",
                "/tmp/demo-1.0.0.tgz",
                "--namespace",
                "on-shop-main",
                "--values",
                "/tmp/v.yaml",
                "--kube-version",
                "v1.35.0",
                "--include-crds",
                "--version",
                "1.2.3+build.5"
            ]
        );
    }

    #[test]
    fn private_files_are_0600_and_go_away_with_the_session() {
        let run = HelmRun::new(HelmConfig::default()).unwrap();
        let p = run.private_file("secret", b"p@ss!$").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(std::fs::metadata(&p).unwrap().permissions().mode() & 0o777, 0o600);
        }
        let dir = run.dir().to_owned();
        drop(run);
        assert!(!dir.exists());
    }
}
