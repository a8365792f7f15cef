//! ① Reading a repository's tags and digests with oci-client: every tag (paged with `n`/`last`),
//! the manifest digest of a tag (the registry's `Docker-Content-Digest` from a HEAD request: the
//! index digest for multi-arch images, never a config digest), and the image's creation date
//! (from the config of the first real platform image; attestation manifests are skipped).

use super::check::{Credentials, RegistryConn};
use chrono::{DateTime, Utc};
use oci_client::{
    Client, Reference,
    client::{Certificate, CertificateEncoding, ClientConfig, ClientProtocol},
    manifest,
    secrets::RegistryAuth,
};
use regex::Regex;
use std::time::Duration;

/// Tags asked for per page.
pub const PAGE_SIZE: usize = 100;
/// Stop paging after this many tags (a registry that never ends its list).
const MAX_TAGS: usize = 100_000;

/// A registry client for one Docker registry.
pub struct TagClient {
    client: Client,
    auth: RegistryAuth,
    host: String,
}

/// Why a registry call failed, in words that name the registry and never a secret.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct TagError(pub String);

fn err(what: &str, e: oci_client::errors::OciDistributionError) -> TagError {
    TagError(format!("{what}: {e}"))
}

impl TagClient {
    /// A client with the registry's TLS settings and credentials.
    pub fn new(conn: &RegistryConn) -> Result<Self, TagError> {
        let (protocol, host) = match conn.url.split_once("://") {
            Some(("http", rest)) => (ClientProtocol::Http, rest),
            Some((_, rest)) => (ClientProtocol::Https, rest),
            None => (ClientProtocol::Https, conn.url.as_str()),
        };
        let config = ClientConfig {
            protocol,
            accept_invalid_certificates: conn.skip_tls_verify,
            extra_root_certificates: conn
                .ca_pem
                .iter()
                .map(|pem| Certificate {
                    encoding: CertificateEncoding::Pem,
                    data: pem.as_bytes().to_vec(),
                })
                .collect(),
            read_timeout: Some(Duration::from_secs(30)),
            connect_timeout: Some(Duration::from_secs(10)),
            ..Default::default()
        };
        let auth = match &conn.auth {
            Credentials::Anonymous => RegistryAuth::Anonymous,
            Credentials::Basic(u, p) => RegistryAuth::Basic(u.clone(), p.clone()),
            Credentials::Token(t) => RegistryAuth::Bearer(t.clone()),
        };
        Ok(TagClient {
            client: Client::new(config),
            auth,
            host: host.trim_end_matches('/').to_owned(),
        })
    }

    fn reference(&self, repository: &str, tag: &str) -> Reference {
        Reference::with_tag(self.host.clone(), repository.to_owned(), tag.to_owned())
    }

    /// Every tag of `repository`, following pages of `page_size`.
    pub async fn list_tags(&self, repository: &str, page_size: usize) -> Result<Vec<String>, TagError> {
        let image = self.reference(repository, "latest");
        let mut all: Vec<String> = vec![];
        let mut seen = std::collections::HashSet::new();
        let mut last: Option<String> = None;
        loop {
            let page = self
                .client
                .list_tags(&image, &self.auth, Some(page_size), last.as_deref())
                .await
                .map_err(|e| err(&format!("listing tags of {repository}"), e))?;
            let n = page.tags.len();
            let before = all.len();
            last = page.tags.last().cloned();
            all.extend(page.tags.into_iter().filter(|t| seen.insert(t.clone())));
            // A registry that ignores `last` repeats itself: stop when a page brings nothing new.
            if n < page_size || all.len() == before || all.len() >= MAX_TAGS {
                break;
            }
        }
        // Registries do not all sort (Debian's Distribution 2.8 lists in storage order).
        all.sort();
        Ok(all)
    }

    /// The manifest digest of `repository:tag` (HEAD request).
    pub async fn digest(&self, repository: &str, tag: &str) -> Result<String, TagError> {
        self.client
            .fetch_manifest_digest(&self.reference(repository, tag), &self.auth)
            .await
            .map_err(|e| err(&format!("reading the digest of {repository}:{tag}"), e))
    }

    /// When the image behind `repository:tag` was built, if its config says.
    pub async fn created(&self, repository: &str, tag: &str) -> Result<Option<DateTime<Utc>>, TagError> {
        let what = format!("reading the manifest of {repository}:{tag}");
        let image = self.reference(repository, tag);
        let accepted = [
            manifest::OCI_IMAGE_INDEX_MEDIA_TYPE,
            manifest::IMAGE_MANIFEST_LIST_MEDIA_TYPE,
            manifest::OCI_IMAGE_MEDIA_TYPE,
            manifest::IMAGE_MANIFEST_MEDIA_TYPE,
        ];
        let (raw, _) = self
            .client
            .pull_manifest_raw(&image, &self.auth, &accepted)
            .await
            .map_err(|e| err(&what, e))?;
        let mut doc: serde_json::Value =
            serde_json::from_slice(&raw).map_err(|e| TagError(format!("{what}: {e}")))?;
        if let Some(entries) = doc.get("manifests").and_then(|m| m.as_array()) {
            let Some(digest) = entries
                .iter()
                .find(|e| !is_attestation(e))
                .and_then(|e| e["digest"].as_str())
            else {
                return Ok(None);
            };
            let platform =
                Reference::with_digest(self.host.clone(), repository.to_owned(), digest.to_owned());
            let (raw, _) = self
                .client
                .pull_manifest_raw(&platform, &self.auth, &accepted)
                .await
                .map_err(|e| err(&what, e))?;
            doc = serde_json::from_slice(&raw).map_err(|e| TagError(format!("{what}: {e}")))?;
        }
        let Some(config_digest) = doc["config"]["digest"].as_str() else {
            return Ok(None);
        };
        let mut config = vec![];
        self.client
            .pull_blob(&image, config_digest, &mut config)
            .await
            .map_err(|e| err(&what, e))?;
        let config: serde_json::Value = serde_json::from_slice(&config).unwrap_or_default();
        Ok(config["created"]
            .as_str()
            .and_then(|c| DateTime::parse_from_rfc3339(c).ok())
            .map(|d| d.with_timezone(&Utc)))
    }
}

/// Whether an index entry is an attestation (BuildKit marks them with platform unknown/unknown
/// and a `vnd.docker.reference.type` annotation).
fn is_attestation(entry: &serde_json::Value) -> bool {
    entry["annotations"]["vnd.docker.reference.type"].as_str() == Some("attestation-manifest")
        || (entry["platform"]["os"] == "unknown" && entry["platform"]["architecture"] == "unknown")
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
    fn attestation_entries() {
        let att = serde_json::json!({"platform": {"os": "unknown", "architecture": "unknown"},
            "annotations": {"vnd.docker.reference.type": "attestation-manifest"}});
        let real = serde_json::json!({"platform": {"os": "linux", "architecture": "amd64"}});
        assert!(is_attestation(&att));
        assert!(!is_attestation(&real));
    }
}
