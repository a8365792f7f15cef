//! Real components for tests: Debian's `docker-registry` (CNCF Distribution) on a loopback port,
//! optionally with TLS from a CA made here and htpasswd Basic auth.

use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose};
use std::{
    net::TcpStream,
    path::Path,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};
use tempfile::TempDir;

/// A CA and a server certificate for 127.0.0.1 / localhost.
pub struct TestTls {
    pub ca_pem: String,
    pub cert_pem: String,
    pub key_pem: String,
}

impl TestTls {
    pub fn new() -> Self {
        let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(DnType::CommonName, "O-Neko test CA");
        ca_params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let ca = CertifiedIssuer::self_signed(ca_params, KeyPair::generate().unwrap()).unwrap();
        let mut params =
            CertificateParams::new(vec!["127.0.0.1".to_string(), "localhost".to_string()]).unwrap();
        params.distinguished_name.push(DnType::CommonName, "127.0.0.1");
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &ca).unwrap();
        TestTls {
            ca_pem: ca.pem(),
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
        }
    }

    /// One self-signed certificate used as the server's own, made the way CNCF Distribution's
    /// documentation makes it (`openssl req -newkey rsa:4096 -nodes -x509`, which marks it
    /// `CA:TRUE`). The admin pastes this very certificate as the registry's CA certificate.
    pub fn self_signed() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let (key, crt) = (dir.path().join("domain.key"), dir.path().join("domain.crt"));
        let out = Command::new("openssl")
            .args(["req", "-newkey", "rsa:4096", "-nodes", "-sha256", "-keyout"])
            .arg(&key)
            .args(["-addext", "subjectAltName = IP:127.0.0.1,DNS:localhost"])
            .args(["-subj", "/CN=127.0.0.1", "-x509", "-days", "365", "-out"])
            .arg(&crt)
            .output()
            .expect("openssl runs");
        assert!(
            out.status.success(),
            "openssl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = Command::new("openssl")
            .args(["x509", "-noout", "-text", "-in"])
            .arg(&crt)
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&text.stdout).contains("CA:TRUE"),
            "the certificate is a CA, as the registry's documentation makes it"
        );
        let cert_pem = std::fs::read_to_string(&crt).unwrap();
        TestTls {
            ca_pem: cert_pem.clone(),
            cert_pem,
            key_pem: std::fs::read_to_string(&key).unwrap(),
        }
    }
}

/// A running `docker-registry`, killed on drop.
pub struct LocalRegistry {
    pub url: String,
    child: Child,
    _dir: TempDir,
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Whether a server started as a child process answers `{base}/healthz` within `timeout`.
pub async fn answers_health(base: &str, timeout: Duration) -> bool {
    let deadline = Instant::now() + timeout;
    while reqwest::get(format!("{base}/healthz")).await.is_err() {
        if Instant::now() >= deadline {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    true
}

/// A port nothing listens on (for a moment).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl LocalRegistry {
    /// Starts a registry; with `tls` it serves HTTPS, with `user` it requires Basic auth.
    pub fn start(tls: Option<&TestTls>, user: Option<(&str, &str)>) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let d = dir.path();
        let mut http = format!("  addr: 127.0.0.1:{port}\n");
        if let Some(tls) = tls {
            std::fs::write(d.join("cert.pem"), &tls.cert_pem).unwrap();
            std::fs::write(d.join("key.pem"), &tls.key_pem).unwrap();
            http.push_str(&format!(
                "  tls:\n    certificate: {}\n    key: {}\n",
                d.join("cert.pem").display(),
                d.join("key.pem").display()
            ));
        }
        let auth = match user {
            Some((name, password)) => {
                let hash = bcrypt::hash_with_result(password, 4)
                    .unwrap()
                    .format_for_version(bcrypt::Version::TwoY);
                std::fs::write(d.join("htpasswd"), format!("{name}:{hash}\n")).unwrap();
                format!(
                    "auth:\n  htpasswd:\n    realm: o-neko-test\n    path: {}\n",
                    d.join("htpasswd").display()
                )
            }
            None => String::new(),
        };
        let config = format!(
            "version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n{http}{auth}",
            d.join("storage").display()
        );
        std::fs::write(d.join("config.yml"), config).unwrap();
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(d.join("config.yml"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry (Debian package docker-registry) is installed");
        wait_for_port(port, &d.join("docker-registry config.yml"));
        let scheme = if tls.is_some() { "https" } else { "http" };
        LocalRegistry {
            url: format!("{scheme}://127.0.0.1:{port}"),
            child,
            _dir: dir,
        }
    }
}

fn wait_for_port(port: u16, dir: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "{} did not start on port {port}",
            dir.display()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How a [`TokenProxy`] answers registry calls.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum ProxyMode {
    /// Bearer-protected, paged with `Link`.
    Normal,
    /// 429 with `Retry-After`.
    RateLimited,
    /// 200 with a body that is no registry answer.
    Garbage,
}

/// A registry front in the style of Docker Hub: Bearer tokens from its own token endpoint
/// (Basic credentials in, a token with a short `expires_in` out), tag lists paged with `Link`
/// headers, and switchable faults. Everything else is forwarded to an anonymous
/// [`LocalRegistry`].
pub struct TokenProxy {
    pub url: String,
    pub mode: std::sync::Arc<std::sync::Mutex<ProxyMode>>,
    /// Tokens issued so far.
    pub tokens_issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// Tag-list requests answered.
    pub tag_pages: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for TokenProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Clone)]
struct ProxyState {
    upstream: String,
    me: String,
    user: (String, String),
    expires_in: u64,
    mode: std::sync::Arc<std::sync::Mutex<ProxyMode>>,
    issued: std::sync::Arc<std::sync::Mutex<Vec<(String, Instant)>>>,
    tokens_issued: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    tag_pages: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl TokenProxy {
    /// Starts the proxy in front of `upstream`; tokens live `expires_in` seconds.
    pub async fn start(upstream: &LocalRegistry, user: (&str, &str), expires_in: u64) -> Self {
        use axum::{Router, routing::get};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let mode = std::sync::Arc::new(std::sync::Mutex::new(ProxyMode::Normal));
        let tokens_issued = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let tag_pages = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let state = ProxyState {
            upstream: upstream.url.clone(),
            me: url.clone(),
            user: (user.0.into(), user.1.into()),
            expires_in,
            mode: mode.clone(),
            issued: Default::default(),
            tokens_issued: tokens_issued.clone(),
            tag_pages: tag_pages.clone(),
        };
        let app = Router::new()
            .route("/token", get(proxy_token))
            .fallback(proxy_registry)
            .with_state(state);
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        TokenProxy {
            url,
            mode,
            tokens_issued,
            tag_pages,
            task,
        }
    }

    pub fn set_mode(&self, mode: ProxyMode) {
        *self.mode.lock().unwrap() = mode;
    }
}

async fn proxy_token(
    axum::extract::State(s): axum::extract::State<ProxyState>,
    headers: axum::http::HeaderMap,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use base64::Engine;
    let expected = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{}", s.user.0, s.user.1))
    );
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
        return (axum::http::StatusCode::UNAUTHORIZED, "bad credentials").into_response();
    }
    let n = s.tokens_issued.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
    let token = format!("token-{n}-{:08x}", rand::random::<u32>());
    s.issued
        .lock()
        .unwrap()
        .push((token.clone(), Instant::now() + Duration::from_secs(s.expires_in)));
    axum::Json(serde_json::json!({"token": token, "expires_in": s.expires_in})).into_response()
}

async fn proxy_registry(
    axum::extract::State(s): axum::extract::State<ProxyState>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    let path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let given = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::to_owned);
    let valid = given.is_some_and(|t| {
        s.issued
            .lock()
            .unwrap()
            .iter()
            .any(|(tok, until)| *tok == t && Instant::now() < *until)
    });
    if !valid {
        let repo = path
            .strip_prefix("/v2/")
            .and_then(|p| p.split("/tags/").next())
            .and_then(|p| p.split("/manifests/").next())
            .unwrap_or("");
        let challenge = format!(
            r#"Bearer realm="{}/token",service="proxy",scope="repository:{repo}:pull""#,
            s.me
        );
        return (
            StatusCode::UNAUTHORIZED,
            [("www-authenticate", challenge)],
            axum::Json(serde_json::json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]})),
        )
            .into_response();
    }
    match *s.mode.lock().unwrap() {
        ProxyMode::Normal => {}
        ProxyMode::RateLimited => {
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [("retry-after", "30")],
                "slow down",
            )
                .into_response();
        }
        ProxyMode::Garbage => return (StatusCode::OK, "<html>surprise</html>").into_response(),
    }
    let http = reqwest::Client::new();
    if let Some(repo) = path
        .strip_prefix("/v2/")
        .and_then(|p| p.strip_suffix("/tags/list"))
    {
        // Page the upstream's full list ourselves, as registries with pagination do.
        s.tag_pages.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let all: serde_json::Value = http
            .get(format!("{}/v2/{repo}/tags/list", s.upstream))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let mut tags: Vec<String> = serde_json::from_value(all["tags"].clone()).unwrap_or_default();
        tags.sort();
        let params: std::collections::HashMap<String, String> = url::form_urlencoded::parse(query.as_bytes())
            .into_owned()
            .collect();
        let n: usize = params.get("n").and_then(|n| n.parse().ok()).unwrap_or(100);
        let start = match params.get("last") {
            Some(last) => tags.iter().position(|t| t > last).unwrap_or(tags.len()),
            None => 0,
        };
        let page: Vec<String> = tags.iter().skip(start).take(n).cloned().collect();
        let body = axum::Json(serde_json::json!({"name": repo, "tags": page}));
        if start + n < tags.len() {
            let link = format!(
                r#"</v2/{repo}/tags/list?n={n}&last={}>; rel="next""#,
                page.last().unwrap()
            );
            return ([("link", link)], body).into_response();
        }
        return body.into_response();
    }
    let method = req.method().clone();
    let mut forward = http.request(method, format!("{}{path}", s.upstream));
    if let Some(accept) = req.headers().get("accept") {
        forward = forward.header("accept", accept);
    }
    let up = forward.send().await.unwrap();
    let mut resp = axum::response::Response::builder().status(up.status().as_u16());
    for name in ["content-type", "docker-content-digest", "content-length"] {
        if let Some(v) = up.headers().get(name) {
            resp = resp.header(name, v.as_bytes());
        }
    }
    resp.body(axum::body::Body::from(up.bytes().await.unwrap()))
        .unwrap()
}

/// PyPI's `gcp-storage-emulator` on a loopback port with an in-memory bucket; killed on drop.
pub struct GcsEmulator {
    pub url: String,
    child: Child,
}

impl Drop for GcsEmulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl GcsEmulator {
    pub fn start(bucket: &str) -> Self {
        let port = free_port();
        let child = Command::new("gcp-storage-emulator")
            .args(["start", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(["--in-memory", "--quiet", "--default-bucket", bucket])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("gcp-storage-emulator (PyPI) is installed");
        wait_for_port(port, Path::new("gcp-storage-emulator"));
        GcsEmulator {
            url: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Uploads `content` as `gs://bucket/name` through the JSON API.
    pub async fn put(&self, bucket: &str, name: &str, content: Vec<u8>) {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let resp = reqwest::Client::new()
            .post(format!("{}/upload/storage/v1/b/{bucket}/o", self.url))
            .query(&[("uploadType", "media"), ("name", name)])
            .body(content)
            .send()
            .await
            .unwrap();
        assert!(resp.status().is_success(), "upload of {name}: {}", resp.status());
    }
}

/// What a [`FakeRegistry`] does wrong, on purpose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum FakeFault {
    None,
    /// Tag lists answer 500 with a body that never ends.
    EndlessErrorBody,
    /// The registry asks for a Bearer token; its token service answers with a body that never ends.
    EndlessToken,
    /// Manifests (GET) are bodies that never end; HEAD still names the digest.
    EndlessManifest,
}

/// Knobs and records of a [`FakeRegistry`].
pub struct FakeState {
    pub me: String,
    /// Basic credentials it requires (`None`: anonymous).
    pub user: Option<(String, String)>,
    /// The tags it lists, any strings at all (even no valid tags).
    pub tags: std::sync::Mutex<Vec<String>>,
    /// A `Link` header sent with the first page of a tag list.
    pub link: std::sync::Mutex<Option<String>>,
    pub fault: std::sync::Mutex<FakeFault>,
    /// How long a tag list takes.
    pub delay: std::sync::Mutex<Duration>,
    /// Every request: path and query, and the Authorization header it carried.
    pub requests: std::sync::Mutex<Vec<(String, Option<String>)>>,
    /// Tag lists being answered now, and the most at once.
    pub in_flight: std::sync::atomic::AtomicUsize,
    pub max_in_flight: std::sync::atomic::AtomicUsize,
    pub tag_lists: std::sync::atomic::AtomicUsize,
}

/// A registry made up by the test (a small axum server): lists whatever tags it is given, pages
/// with a `Link` it is given, answers manifests, configs and digests for any tag, and can be
/// made slow or to send endless bodies. It records every request and its credentials.
pub struct FakeRegistry {
    pub url: String,
    pub state: std::sync::Arc<FakeState>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeRegistry {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl FakeRegistry {
    pub async fn start(user: Option<(&str, &str)>, tags: &[&str]) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = std::sync::Arc::new(FakeState {
            me: url.clone(),
            user: user.map(|(u, p)| (u.to_owned(), p.to_owned())),
            tags: std::sync::Mutex::new(tags.iter().map(|t| t.to_string()).collect()),
            link: Default::default(),
            fault: std::sync::Mutex::new(FakeFault::None),
            delay: Default::default(),
            requests: Default::default(),
            in_flight: Default::default(),
            max_in_flight: Default::default(),
            tag_lists: Default::default(),
        });
        let app = axum::Router::new()
            .fallback(fake_registry)
            .with_state(state.clone());
        let task = tokio::spawn(async move {
            axum::serve(listener, app).await.unwrap();
        });
        FakeRegistry { url, state, task }
    }

    pub fn set_fault(&self, fault: FakeFault) {
        *self.state.fault.lock().unwrap() = fault;
    }

    /// The requests seen so far.
    pub fn requests(&self) -> Vec<(String, Option<String>)> {
        self.state.requests.lock().unwrap().clone()
    }
}

/// A body of `{"token": "aaaa…` or of spaces that never ends.
fn endless(start: &'static [u8]) -> axum::body::Body {
    use futures::StreamExt;
    let first =
        futures::stream::once(async move { Ok::<_, std::io::Error>(axum::body::Bytes::from_static(start)) });
    let rest = futures::stream::repeat_with(|| Ok(axum::body::Bytes::from(vec![b' '; 64 << 10])));
    axum::body::Body::from_stream(first.chain(rest))
}

async fn fake_registry(
    axum::extract::State(s): axum::extract::State<std::sync::Arc<FakeState>>,
    req: axum::extract::Request,
) -> axum::response::Response {
    use axum::{http::StatusCode, response::IntoResponse};
    use std::sync::atomic::Ordering;
    let path = req.uri().path().to_owned();
    let query = req.uri().query().map(str::to_owned);
    let auth = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    s.requests.lock().unwrap().push((
        format!(
            "{path}{}",
            query.as_deref().map(|q| format!("?{q}")).unwrap_or_default()
        ),
        auth.clone(),
    ));
    let fault = *s.fault.lock().unwrap();
    if path == "/token" {
        return (StatusCode::OK, endless(b"{\"token\": \"")).into_response();
    }
    if fault == FakeFault::EndlessToken && auth.as_deref().is_none_or(|a| !a.starts_with("Bearer ")) {
        let challenge = format!(r#"Bearer realm="{}/token",service="fake""#, s.me);
        return (StatusCode::UNAUTHORIZED, [("www-authenticate", challenge)]).into_response();
    }
    if let Some((user, password)) = &s.user {
        use base64::Engine;
        let expected = format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"))
        );
        if auth.as_deref() != Some(expected.as_str()) {
            return (
                StatusCode::UNAUTHORIZED,
                [("www-authenticate", r#"Basic realm="fake""#)],
            )
                .into_response();
        }
    }
    let Some(rest) = path.strip_prefix("/v2/") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    if rest.is_empty() {
        return axum::Json(serde_json::json!({})).into_response();
    }
    if let Some(repo) = rest.strip_suffix("/tags/list") {
        let now = s.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
        s.max_in_flight.fetch_max(now, Ordering::SeqCst);
        s.tag_lists.fetch_add(1, Ordering::SeqCst);
        let delay = *s.delay.lock().unwrap();
        tokio::time::sleep(delay).await;
        s.in_flight.fetch_sub(1, Ordering::SeqCst);
        if fault == FakeFault::EndlessErrorBody {
            return (StatusCode::INTERNAL_SERVER_ERROR, endless(b"{\"errors\": [")).into_response();
        }
        let tags = s.tags.lock().unwrap().clone();
        let body = axum::Json(serde_json::json!({"name": repo, "tags": tags}));
        let first_page = query.as_deref().is_none_or(|q| !q.contains("last="));
        return match s.link.lock().unwrap().clone() {
            Some(link) if first_page => ([("link", link)], body).into_response(),
            _ => body.into_response(),
        };
    }
    if let Some((_, reference)) = rest.split_once("/manifests/") {
        use sha2::Digest;
        let config = serde_json::json!({"architecture": "amd64", "os": "linux",
            "created": "2026-06-01T10:00:00Z"})
        .to_string();
        let config_digest = format!("sha256:{}", hex::encode(sha2::Sha256::digest(&config)));
        let manifest = serde_json::json!({"schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest, "size": config.len()},
            "layers": []})
        .to_string();
        let digest = format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(format!("{reference}{manifest}")))
        );
        let headers = [
            (
                "content-type",
                "application/vnd.oci.image.manifest.v1+json".to_string(),
            ),
            ("docker-content-digest", digest),
        ];
        if req.method() == axum::http::Method::HEAD {
            return (headers, "").into_response();
        }
        if fault == FakeFault::EndlessManifest {
            return (headers, endless(b"{\"schemaVersion\": 2, \"x\": \"")).into_response();
        }
        return (headers, manifest).into_response();
    }
    if rest.contains("/blobs/") {
        return serde_json::json!({"architecture": "amd64", "os": "linux",
            "created": "2026-06-01T10:00:00Z"})
        .to_string()
        .into_response();
    }
    StatusCode::NOT_FOUND.into_response()
}

/// The test OpenID Provider (`end2end/idp.mjs`: npm `oidc-provider`) on a loopback port, killed on
/// drop. Any login name signs in (with any password) as that account; `alice`'s groups are
/// `oneko-admins`, `bob`'s `developers`, `carol`'s `staff`, `mallory`'s `marketing`.
pub struct TestIdp {
    /// The issuer the provider names itself.
    pub issuer: String,
    /// Where it listens (differs from `issuer` when started with another issuer host).
    pub base: String,
    child: Child,
}

impl Drop for TestIdp {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl TestIdp {
    /// The provider's port is chosen first, so O-Neko can be configured with the issuer before
    /// either runs; the provider only needs O-Neko's callback URI.
    pub fn port() -> u16 {
        free_port()
    }

    /// Starts the provider on `port` for a client whose redirect URI is `redirect_uri`; `env`
    /// adds settings (`IDP_CODE_TTL`, `IDP_ISSUER_HOST`).
    pub fn start(port: u16, redirect_uri: &str, env: &[(&str, &str)]) -> Self {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../end2end/idp.mjs");
        let mut child = Command::new("node")
            .arg(&script)
            .env("IDP_PORT", port.to_string())
            .env("IDP_REDIRECT_URIS", redirect_uri)
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs end2end/idp.mjs (tools/setup.sh test installs its npm packages)");
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .expect("the provider prints its issuer");
        let issuer = line
            .strip_prefix("issuer ")
            .unwrap_or_else(|| panic!("the provider did not start: {line:?}"))
            .trim()
            .to_owned();
        TestIdp {
            issuer,
            base: format!("http://127.0.0.1:{port}"),
            child,
        }
    }

    /// Replaces the provider's signing key by a new one, as a key rotation does.
    pub async fn rotate_keys(&self) {
        let status = reqwest::Client::new()
            .post(format!("{}/test/rotate-keys", self.base))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    }

    /// Changes `account`'s groups for its next sign-in.
    pub async fn set_groups(&self, account: &str, groups: &[&str]) {
        let status = reqwest::Client::new()
            .put(format!("{}/test/accounts/{account}", self.base))
            .json(&serde_json::json!({ "groups": groups }))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, reqwest::StatusCode::NO_CONTENT);
    }
}
