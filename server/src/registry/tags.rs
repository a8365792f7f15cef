//! Reading a repository's tags and digests: every tag (paged with `n`/`last`, following the
//! `Link` header), the manifest digest of a tag (the registry's `Docker-Content-Digest` from a
//! HEAD request: the index digest for multi-arch images, never a config digest), and the image's
//! creation date (from the config of the first real platform image; attestations are skipped).
//!
//! Every request goes through one small client of our own (oci-client supplies the media types):
//! oci-client's `list_tags` does not expose the `Link` header, its token cache ignores
//! `expires_in`, and its TLS cannot trust a pinned self-signed certificate (`registry/tls.rs`).

use super::{
    check::{Credentials, RegistryConn, challenge_params, classify},
    read_limited,
};
use chrono::{DateTime, Utc};
use oci_client::manifest;
use regex::Regex;
use reqwest::{Method, StatusCode, Url, header};
use std::{
    collections::HashMap,
    sync::{
        Mutex,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

/// Tags asked for per page.
pub const PAGE_SIZE: usize = 1000;
/// Stop paging after this many tags (a registry that never ends its list).
const MAX_TAGS: usize = 100_000;
/// How long a token without `expires_in` is used (the Distribution spec's default).
const DEFAULT_TOKEN_SECS: u64 = 60;
/// Largest tag list, manifest or token response read.
const MAX_BODY: usize = 16 << 20;
/// Largest error body read (for the registry's own words); a larger one is not quoted.
const MAX_ERROR_BODY: usize = 64 << 10;

const MANIFEST_TYPES: [&str; 4] = [
    manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
    manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
    manifest::OCI_IMAGE_MEDIA_TYPE,
    manifest::IMAGE_MANIFEST_MEDIA_TYPE,
];

/// How the registry wants credentials, learnt from its first 401.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Scheme {
    Unknown,
    Basic,
    Bearer,
}

/// A registry client for one Docker registry. Keep one per registry: it caches Bearer tokens
/// per scope until their `expires_in` runs out.
pub struct TagClient {
    http: reqwest::Client,
    base: Url,
    creds: Credentials,
    scheme: Mutex<Scheme>,
    tokens: Mutex<HashMap<String, (String, Instant)>>,
    requests: AtomicU64,
}

/// Why a registry call failed, in words that name the registry and never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TagError(pub String);

impl TagClient {
    /// A client with the registry's TLS settings and credentials.
    pub fn new(conn: &RegistryConn) -> Result<Self, TagError> {
        let http = super::check::http_client(conn, Duration::from_secs(30)).map_err(TagError)?;
        let base = Url::parse(&format!("{}/", conn.url.trim_end_matches('/')))
            .map_err(|e| TagError(format!("registry URL {}: {e}", conn.url)))?;
        Ok(TagClient {
            http,
            base,
            creds: conn.auth.clone(),
            scheme: Mutex::new(Scheme::Unknown),
            tokens: Mutex::new(HashMap::new()),
            requests: AtomicU64::new(0),
        })
    }

    /// HTTP requests sent so far (token requests included), for the benchmark.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    fn registry(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    async fn send_once(
        &self,
        method: &Method,
        url: &Url,
        accept: &[&str],
        scope: &str,
    ) -> Result<reqwest::Response, TagError> {
        let mut req = self.http.request(method.clone(), url.clone());
        if !accept.is_empty() {
            req = req.header(header::ACCEPT, accept.join(", "));
        }
        let scheme = *self.scheme.lock().unwrap();
        req = match (&self.creds, scheme) {
            (Credentials::Token(t), _) => req.bearer_auth(t),
            (Credentials::Basic(u, p), Scheme::Basic) => req.basic_auth(u, Some(p)),
            (_, Scheme::Bearer) => match self.cached_token(scope) {
                Some(t) => req.bearer_auth(t),
                None => req,
            },
            _ => req,
        };
        self.requests.fetch_add(1, Ordering::Relaxed);
        req.send()
            .await
            .map_err(|e| TagError(classify(&e, self.registry()).message))
    }

    fn cached_token(&self, scope: &str) -> Option<String> {
        let tokens = self.tokens.lock().unwrap();
        tokens
            .get(scope)
            .filter(|(_, until)| Instant::now() < *until)
            .map(|(t, _)| t.clone())
    }

    /// Sends a request, answering a 401 challenge once (Basic, or a Bearer token from the realm
    /// the registry names) and mapping failures to words.
    async fn send(
        &self,
        method: Method,
        url: Url,
        accept: &[&str],
        scope: &str,
        what: &str,
    ) -> Result<reqwest::Response, TagError> {
        let first = self.send_once(&method, &url, accept, scope).await?;
        let resp = if first.status() == StatusCode::UNAUTHORIZED {
            let challenge = first
                .headers()
                .get(header::WWW_AUTHENTICATE)
                .and_then(|h| h.to_str().ok())
                .unwrap_or("")
                .to_owned();
            match challenge
                .split_whitespace()
                .next()
                .map(str::to_lowercase)
                .as_deref()
            {
                Some("basic") if matches!(self.creds, Credentials::Basic(..)) => {
                    *self.scheme.lock().unwrap() = Scheme::Basic;
                }
                Some("bearer") if !matches!(self.creds, Credentials::Token(_)) => {
                    *self.scheme.lock().unwrap() = Scheme::Bearer;
                    self.fetch_token(&challenge, scope).await?;
                }
                _ => return Err(self.refused(what)),
            }
            self.send_once(&method, &url, accept, scope).await?
        } else {
            first
        };
        let status = resp.status();
        if status.is_success() || (status == StatusCode::NOT_FOUND && method == Method::HEAD) {
            return Ok(resp);
        }
        Err(TagError(match status {
            StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => self.refused(what).0,
            StatusCode::TOO_MANY_REQUESTS => {
                let after = resp
                    .headers()
                    .get(header::RETRY_AFTER)
                    .and_then(|h| h.to_str().ok())
                    .map(|s| format!(", retry after {s} s"))
                    .unwrap_or_default();
                format!("{what}: {} is rate limiting us (429{after})", self.registry())
            }
            StatusCode::NOT_FOUND => format!(
                "{what}: {} answered 404 (no such repository or tag)",
                self.registry()
            ),
            _ => {
                let body = read_limited(resp, MAX_ERROR_BODY).await.unwrap_or_default();
                let message = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["errors"][0]["message"].as_str().map(str::to_owned))
                    .map(|m| format!(": {}", m.chars().take(200).collect::<String>()))
                    .unwrap_or_default();
                format!("{what}: {} answered {status}{message}", self.registry())
            }
        }))
    }

    fn refused(&self, what: &str) -> TagError {
        TagError(match self.creds {
            Credentials::Anonymous => format!(
                "{what}: {} requires credentials (401) and none are configured",
                self.registry()
            ),
            _ => format!(
                "{what}: {} rejected the credentials (401): check username and password or token",
                self.registry()
            ),
        })
    }

    /// Gets a token from the challenge's realm and caches it for `scope` until it expires.
    async fn fetch_token(&self, challenge: &str, scope: &str) -> Result<(), TagError> {
        let params = challenge_params(challenge);
        let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        let realm = get("realm").ok_or_else(|| {
            TagError(format!(
                "{} asked for a token but named no realm",
                self.registry()
            ))
        })?;
        let mut url = Url::parse(&realm).map_err(|_| {
            TagError(format!(
                "{} named an invalid token realm '{realm}'",
                self.registry()
            ))
        })?;
        {
            let mut q = url.query_pairs_mut();
            if let Some(service) = get("service") {
                q.append_pair("service", &service);
            }
            q.append_pair("scope", &get("scope").unwrap_or_else(|| scope.to_owned()));
        }
        let mut req = self.http.get(url);
        if let Credentials::Basic(u, p) = &self.creds {
            req = req.basic_auth(u, Some(p));
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req
            .send()
            .await
            .map_err(|e| TagError(classify(&e, &realm).message))?;
        if !resp.status().is_success() {
            return Err(TagError(format!(
                "the token service {realm} refused ({}): check username and password",
                resp.status()
            )));
        }
        let body = read_limited(resp, MAX_BODY)
            .await
            .map_err(|e| TagError(format!("the token service {realm}: {e}")))?;
        let v: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
            TagError(format!(
                "the token service {realm} answered something that is not JSON"
            ))
        })?;
        let token = v["token"]
            .as_str()
            .or(v["access_token"].as_str())
            .ok_or_else(|| TagError(format!("the token service {realm} sent no token")))?;
        let secs = v["expires_in"].as_u64().unwrap_or(DEFAULT_TOKEN_SECS);
        // Renew a little early so a token never expires between cache lookup and use.
        let until = Instant::now()
            + Duration::from_secs(secs)
                .saturating_sub(Duration::from_secs(1).min(Duration::from_secs(secs) / 10));
        self.tokens
            .lock()
            .unwrap()
            .insert(scope.to_owned(), (token.to_owned(), until));
        Ok(())
    }

    fn url(&self, path: &str) -> Result<Url, TagError> {
        self.base
            .join(path)
            .map_err(|e| TagError(format!("building a URL for {path}: {e}")))
    }

    /// The page a `Link` header names. Only a page of the registry itself (same scheme, host
    /// and port) is asked for, since every request carries the registry's credentials: a `Link`
    /// to another host fails the listing (rather than ending it early, which would make the
    /// tags of later pages look deleted).
    fn next_page(&self, link: &str, what: &str) -> Result<Url, TagError> {
        let url = self.url(link.trim_start_matches('/'))?;
        if url.origin() != self.base.origin() {
            return Err(TagError(format!(
                "{what}: {} sent a Link header to another host ({}); O-Neko does not follow it, so the registry's credentials never go there",
                self.registry(),
                url.origin().ascii_serialization()
            )));
        }
        Ok(url)
    }

    /// Every tag of `repository`, asking for pages of `page_size` and following `Link`.
    pub async fn list_tags(&self, repository: &str, page_size: usize) -> Result<Vec<String>, TagError> {
        let what = format!("listing tags of {repository}");
        let scope = format!("repository:{repository}:pull");
        let mut url = self.url(&format!("v2/{repository}/tags/list"))?;
        url.query_pairs_mut().append_pair("n", &page_size.to_string());
        let mut all: Vec<String> = vec![];
        let mut seen = std::collections::HashSet::new();
        loop {
            let resp = self.send(Method::GET, url.clone(), &[], &scope, &what).await?;
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|h| h.to_str().ok())
                .and_then(next_link)
                .map(str::to_owned);
            let body = read_limited(resp, MAX_BODY)
                .await
                .map_err(|e| TagError(format!("{what}: {e}")))?;
            let page: TagPage = serde_json::from_slice(&body).map_err(|_| {
                TagError(format!(
                    "{what}: {} answered something that is not a tag list",
                    self.registry()
                ))
            })?;
            let tags = page.tags.unwrap_or_default();
            let n = tags.len();
            let before = all.len();
            let last = tags.last().cloned();
            all.extend(tags.into_iter().filter(|t| seen.insert(t.clone())));
            if all.len() >= MAX_TAGS || all.len() == before {
                break;
            }
            url = match (next, last) {
                (Some(next), _) => self.next_page(&next, &what)?,
                // No Link: a full page may mean more (registries that page without Link),
                // a longer one means the registry ignores `n` and sent everything.
                (None, Some(last)) if n == page_size => {
                    let mut u = self.url(&format!("v2/{repository}/tags/list"))?;
                    u.query_pairs_mut()
                        .append_pair("n", &page_size.to_string())
                        .append_pair("last", &last);
                    u
                }
                _ => break,
            };
        }
        // Registries do not all sort (Debian's Distribution 2.8 lists in storage order).
        all.sort();
        Ok(all)
    }

    /// The manifest digest of `repository:tag` (HEAD request); `None` when the tag is gone.
    pub async fn digest(&self, repository: &str, tag: &str) -> Result<Option<String>, TagError> {
        let what = format!("reading the digest of {repository}:{tag}");
        let scope = format!("repository:{repository}:pull");
        let url = self.url(&format!("v2/{repository}/manifests/{tag}"))?;
        let resp = self
            .send(Method::HEAD, url.clone(), &MANIFEST_TYPES, &scope, &what)
            .await?;
        if resp.status() == StatusCode::NOT_FOUND {
            return Ok(None);
        }
        if let Some(d) = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
        {
            return Ok(Some(d.to_owned()));
        }
        // Registries need not send the header: the digest is the hash of the manifest bytes.
        let resp = self
            .send(Method::GET, url, &MANIFEST_TYPES, &scope, &what)
            .await?;
        let body = read_limited(resp, MAX_BODY)
            .await
            .map_err(|e| TagError(format!("{what}: {e}")))?;
        use sha2::Digest as _;
        Ok(Some(format!(
            "sha256:{}",
            hex::encode(sha2::Sha256::digest(&body))
        )))
    }

    /// The registry's repositories under `prefix` (`/v2/_catalog`, paged by `Link`). Many public
    /// registries refuse the catalog; the error says so.
    pub async fn catalog(&self, prefix: &str) -> Result<Vec<String>, TagError> {
        let what = "listing the registry's repositories";
        let mut url = self.url("v2/_catalog")?;
        url.query_pairs_mut().append_pair("n", &PAGE_SIZE.to_string());
        let mut all = vec![];
        for _ in 0..100 {
            let resp = self
                .send(Method::GET, url.clone(), &[], "registry:catalog:*", what)
                .await?;
            let next = resp
                .headers()
                .get(header::LINK)
                .and_then(|h| h.to_str().ok())
                .and_then(next_link)
                .map(str::to_owned);
            let body = read_limited(resp, MAX_BODY)
                .await
                .map_err(|e| TagError(format!("{what}: {e}")))?;
            let page: serde_json::Value = serde_json::from_slice(&body).map_err(|_| {
                TagError(format!(
                    "{what}: {} answered something that is not a catalog",
                    self.registry()
                ))
            })?;
            all.extend(
                page["repositories"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|r| r.as_str())
                    .filter(|r| prefix.is_empty() || r.starts_with(&format!("{prefix}/")))
                    .map(str::to_owned),
            );
            match next {
                Some(n) => url = self.next_page(&n, what)?,
                None => break,
            }
        }
        Ok(all)
    }

    /// The manifest digest and the Helm chart metadata (`Chart.yaml` as JSON) of an OCI chart;
    /// `None` when `repository:tag` is not a Helm chart.
    pub async fn chart_config(
        &self,
        repository: &str,
        tag: &str,
    ) -> Result<Option<(String, serde_json::Value)>, TagError> {
        let what = format!("reading the chart {repository}:{tag}");
        let scope = format!("repository:{repository}:pull");
        let url = self.url(&format!("v2/{repository}/manifests/{tag}"))?;
        let resp = self
            .send(Method::GET, url, &[manifest::OCI_IMAGE_MEDIA_TYPE], &scope, &what)
            .await?;
        let header_digest = resp
            .headers()
            .get("docker-content-digest")
            .and_then(|h| h.to_str().ok())
            .map(str::to_owned);
        let body = read_limited(resp, MAX_BODY)
            .await
            .map_err(|e| TagError(format!("{what}: {e}")))?;
        use sha2::Digest as _;
        let digest =
            header_digest.unwrap_or_else(|| format!("sha256:{}", hex::encode(sha2::Sha256::digest(&body))));
        let doc: serde_json::Value =
            serde_json::from_slice(&body).map_err(|e| TagError(format!("{what}: {e}")))?;
        if doc["config"]["mediaType"] != "application/vnd.cncf.helm.config.v1+json" {
            return Ok(None);
        }
        let Some(config_digest) = doc["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let url = self.url(&format!("v2/{repository}/blobs/{config_digest}"))?;
        let resp = self.send(Method::GET, url, &[], &scope, &what).await?;
        let body = read_limited(resp, 1 << 20)
            .await
            .map_err(|e| TagError(format!("{what}: {e}")))?;
        let config = serde_json::from_slice(&body).map_err(|e| TagError(format!("{what}: {e}")))?;
        Ok(Some((digest, config)))
    }

    /// When the image behind `repository:tag` was built, if its config says.
    pub async fn created(&self, repository: &str, tag: &str) -> Result<Option<DateTime<Utc>>, TagError> {
        let what = format!("reading the manifest of {repository}:{tag}");
        let scope = format!("repository:{repository}:pull");
        let manifest = |reference: &str| format!("v2/{repository}/manifests/{reference}");
        let mut doc = self
            .get_json(&manifest(tag), &MANIFEST_TYPES, &scope, &what)
            .await?;
        if let Some(entries) = doc.get("manifests").and_then(|m| m.as_array()) {
            let Some(digest) = entries
                .iter()
                .find(|e| !is_attestation(e))
                .and_then(|e| e["digest"].as_str())
                .map(str::to_owned)
            else {
                return Ok(None);
            };
            doc = self
                .get_json(&manifest(&digest), &MANIFEST_TYPES, &scope, &what)
                .await?;
        }
        let Some(config_digest) = doc["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let config = self
            .get_json(
                &format!("v2/{repository}/blobs/{config_digest}"),
                &[],
                &scope,
                &what,
            )
            .await
            .unwrap_or_default();
        Ok(config["created"]
            .as_str()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|d| d.with_timezone(&Utc)))
    }

    /// A manifest or config document, read with the same authentication as everything else.
    async fn get_json(
        &self,
        path: &str,
        accept: &[&str],
        scope: &str,
        what: &str,
    ) -> Result<serde_json::Value, TagError> {
        let resp = self
            .send(Method::GET, self.url(path)?, accept, scope, what)
            .await?;
        let body = read_limited(resp, MAX_BODY)
            .await
            .map_err(|e| TagError(format!("{what}: {e}")))?;
        serde_json::from_slice(&body).map_err(|e| TagError(format!("{what}: {e}")))
    }
}

#[derive(serde::Deserialize)]
struct TagPage {
    tags: Option<Vec<String>>,
}

/// The target of a `Link: <...>; rel="next"` header.
fn next_link(header: &str) -> Option<&str> {
    header.split(',').find_map(|part| {
        let (target, params) = part.split_once(';')?;
        params
            .split(';')
            .any(|p| p.trim().replace(' ', "") == "rel=\"next\"" || p.trim() == "rel=next")
            .then(|| target.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

/// Whether an index entry is an attestation (BuildKit marks them with platform unknown/unknown
/// and a `vnd.docker.reference.type` annotation).
fn is_attestation(entry: &serde_json::Value) -> bool {
    entry["annotations"]["vnd.docker.reference.type"].as_str() == Some("attestation-manifest")
        || (entry["platform"]["os"] == "unknown" && entry["platform"]["architecture"] == "unknown")
}

/// Whether `tag` is a tag as the Distribution spec defines them: `[A-Za-z0-9_][A-Za-z0-9._-]{0,127}`.
/// Nothing else becomes a version (and so `IMAGE_TAG`): a registry that lists a tag with a
/// newline, a quote or a slash cannot inject it into rendered values.
pub fn is_valid_tag(tag: &str) -> bool {
    let b = tag.as_bytes();
    (1..=128).contains(&b.len())
        && (b[0].is_ascii_alphanumeric() || b[0] == b'_')
        && b[1..]
            .iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// A tag as shown in a warning: escaped (a newline reads `\n`) and at most 100 characters.
pub fn shown_tag(tag: &str) -> String {
    let escaped = format!("{tag:?}");
    if escaped.chars().count() > 100 {
        format!("{}…", escaped.chars().take(100).collect::<String>())
    } else {
        escaped
    }
}

/// A project's tag filter.
#[derive(Clone, Debug)]
pub struct TagFilter {
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    /// Skip cosign-style signature/attestation/SBOM tags (`sha256-….sig`, `.att`, `.sbom`).
    pub ignore_signatures: bool,
}

impl Default for TagFilter {
    fn default() -> Self {
        TagFilter {
            include: None,
            exclude: None,
            ignore_signatures: true,
        }
    }
}

impl TagFilter {
    /// Builds a filter; a bad regex is an error naming the field.
    pub fn new(
        include: &str,
        exclude: &str,
        ignore_signatures: bool,
    ) -> Result<Self, (&'static str, String)> {
        let compile = |field: &'static str, re: &str| -> Result<Option<Regex>, (&'static str, String)> {
            if re.trim().is_empty() {
                return Ok(None);
            }
            regex::RegexBuilder::new(re)
                .size_limit(1 << 20)
                .build()
                .map(Some)
                .map_err(|e| (field, format!("not a valid regular expression: {e}")))
        };
        Ok(TagFilter {
            include: compile("include", include)?,
            exclude: compile("exclude", exclude)?,
            ignore_signatures,
        })
    }

    /// Whether `tag` becomes a project version.
    pub fn accepts(&self, tag: &str) -> bool {
        if self.ignore_signatures
            && tag.starts_with("sha256-")
            && [".sig", ".att", ".sbom"].iter().any(|s| tag.ends_with(s))
        {
            return false;
        }
        self.include.as_ref().is_none_or(|r| r.is_match(tag))
            && !self.exclude.as_ref().is_some_and(|r| r.is_match(tag))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_rules() {
        let f = TagFilter::default();
        assert!(f.accepts("main"));
        assert!(!f.accepts("sha256-0123abcd.sig"));
        assert!(!f.accepts("sha256-0123abcd.att"));
        assert!(!f.accepts("sha256-0123abcd.sbom"));
        let f = TagFilter::new("^(main|feature-.*)$", "-wip$", false).unwrap();
        assert!(f.accepts("feature-login"));
        assert!(!f.accepts("feature-login-wip"));
        assert!(!f.accepts("v1.0"));
        assert!(f.accepts("main"));
        assert_eq!(TagFilter::new("(", "", true).unwrap_err().0, "include");
    }

    #[test]
    fn tag_grammar() {
        for ok in ["main", "v1.0.0", "_x", "feature-dark_mode", "1", &"a".repeat(128)] {
            assert!(is_valid_tag(ok), "{ok}");
        }
        for bad in [
            "",
            "main\nimage: evil",
            "-x",
            ".x",
            "a/b",
            "a b",
            "a:b",
            "\"quoted\"",
            "a\r",
            "ä",
            &"a".repeat(129),
        ] {
            assert!(!is_valid_tag(bad), "{bad:?}");
        }
        assert_eq!(shown_tag("a\nb"), "\"a\\nb\"");
        assert_eq!(shown_tag(&"x".repeat(500)).chars().count(), 101);
    }

    #[test]
    fn link_header() {
        assert_eq!(
            next_link(r#"</v2/a/tags/list?last=b&n=2>; rel="next""#),
            Some("/v2/a/tags/list?last=b&n=2")
        );
        assert_eq!(next_link(r#"<https://x/y>; rel="prev""#), None);
    }

    #[test]
    fn attestation_entries() {
        let att = serde_json::json!({"platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"}});
        let real = serde_json::json!({"platform": {"os": "linux", "architecture": "amd64"}});
        assert!(is_attestation(&att));
        assert!(!is_attestation(&real));
    }
}
