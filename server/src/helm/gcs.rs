//! Google Cloud Storage as a Helm registry: `gs://bucket/path` holds `index.yaml` and the chart
//! archives (the layout the helm-gcs plugin writes). Objects are read through the JSON API;
//! with a service-account key, an OAuth token is obtained with a signed JWT (RS256, RFC 7523)
//! and reused until shortly before it expires.

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use reqwest::Url;
use serde::Deserialize;
use std::{
    sync::Mutex,
    time::{Duration, Instant},
};

/// Read-only access is all O-Neko needs.
const SCOPE: &str = "https://www.googleapis.com/auth/devstorage.read_only";

/// The fields of a service-account JSON key that O-Neko uses.
#[derive(Clone, Deserialize)]
pub struct ServiceAccountKey {
    pub client_email: String,
    pub private_key: String,
    #[serde(default = "default_token_uri")]
    pub token_uri: String,
}

fn default_token_uri() -> String {
    "https://oauth2.googleapis.com/token".into()
}

impl ServiceAccountKey {
    /// Parses and checks a key: JSON with an email and a PKCS#8 RSA private key.
    pub fn parse(json: &str) -> Result<Self, String> {
        let key: ServiceAccountKey =
            serde_json::from_str(json).map_err(|e| format!("not a service-account JSON key ({e})"))?;
        if key.client_email.trim().is_empty() {
            return Err("the key has no client_email".into());
        }
        key.signer()?;
        Url::parse(&key.token_uri).map_err(|e| format!("token_uri: {e}"))?;
        Ok(key)
    }

    fn signer(&self) -> Result<ring::signature::RsaKeyPair, String> {
        use rustls::pki_types::{PrivatePkcs8KeyDer, pem::PemObject};
        let der = PrivatePkcs8KeyDer::from_pem_slice(self.private_key.as_bytes())
            .map_err(|_| "private_key is not a PEM PKCS#8 key".to_string())?;
        ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
            .map_err(|e| format!("private_key is not a usable RSA key ({e})"))
    }

    /// The signed JWT assertion asking for a token with `SCOPE`, valid for an hour.
    pub fn assertion(&self, now_unix: i64) -> Result<String, String> {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"RS256","typ":"JWT"}"#);
        let claims = serde_json::json!({
            "iss": self.client_email,
            "scope": SCOPE,
            "aud": self.token_uri,
            "iat": now_unix,
            "exp": now_unix + 3600,
        });
        let claims = URL_SAFE_NO_PAD.encode(claims.to_string());
        let signing_input = format!("{header}.{claims}");
        let pair = self.signer()?;
        let mut sig = vec![0; pair.public().modulus_len()];
        pair.sign(
            &ring::signature::RSA_PKCS1_SHA256,
            &ring::rand::SystemRandom::new(),
            signing_input.as_bytes(),
            &mut sig,
        )
        .map_err(|_| "signing the token request failed".to_string())?;
        Ok(format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(sig)))
    }
}

impl std::fmt::Debug for ServiceAccountKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServiceAccountKey")
            .field("client_email", &self.client_email)
            .finish_non_exhaustive()
    }
}

/// `gs://bucket/path` split into its bucket and object prefix (no trailing slash).
pub fn split_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("gs://")
        .ok_or_else(|| "a GCS location starts with gs://".to_string())?;
    let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
    let valid = (3..=222).contains(&bucket.len())
        && bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "-_.".contains(c))
        && bucket.starts_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(format!("'{bucket}' is not a valid bucket name"));
    }
    Ok((bucket.to_owned(), path.trim_matches('/').to_owned()))
}

/// Percent-encodes an object name for one URL path segment (slashes included, as the API wants).
fn encode_object(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Largest token answer read from the OAuth endpoint.
const MAX_TOKEN_ANSWER: usize = 1 << 20;

/// A client for one bucket's objects.
pub struct GcsClient {
    http: reqwest::Client,
    endpoint: Url,
    key: Option<ServiceAccountKey>,
    token: Mutex<Option<(String, Instant)>>,
}

impl GcsClient {
    /// `endpoint` is `https://storage.googleapis.com` in production, an emulator in tests.
    pub fn new(endpoint: &str, key: Option<ServiceAccountKey>) -> Result<Self, String> {
        let endpoint = Url::parse(&format!("{}/", endpoint.trim_end_matches('/')))
            .map_err(|e| format!("GCS endpoint {endpoint}: {e}"))?;
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .connect_timeout(Duration::from_secs(10))
            .user_agent(concat!("o-neko/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("HTTP client: {e}"))?;
        Ok(GcsClient {
            http,
            endpoint,
            key,
            token: Mutex::new(None),
        })
    }

    async fn access_token(&self) -> Result<Option<String>, String> {
        let Some(key) = &self.key else { return Ok(None) };
        if let Some((t, until)) = self.token.lock().unwrap().as_ref()
            && Instant::now() < *until
        {
            return Ok(Some(t.clone()));
        }
        let assertion = key.assertion(chrono::Utc::now().timestamp())?;
        let resp = self
            .http
            .post(&key.token_uri)
            .form(&[
                ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
                ("assertion", assertion.as_str()),
            ])
            .send()
            .await
            .map_err(|e| format!("asking {} for a token: {e}", key.token_uri))?;
        let status = resp.status();
        let body = crate::registry::read_limited(resp, MAX_TOKEN_ANSWER)
            .await
            .map_err(|e| format!("asking {} for a token: {e}", key.token_uri))?;
        let body: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let Some(token) = body["access_token"].as_str().filter(|_| status.is_success()) else {
            let why = body["error_description"]
                .as_str()
                .or(body["error"].as_str())
                .unwrap_or("no access_token in the answer");
            return Err(format!(
                "{} refused the service account {} ({status}): {why}",
                key.token_uri, key.client_email
            ));
        };
        // Renew a minute early so a token never expires mid-request.
        let secs = body["expires_in"].as_u64().unwrap_or(3600).saturating_sub(60);
        *self.token.lock().unwrap() = Some((token.to_owned(), Instant::now() + Duration::from_secs(secs)));
        Ok(Some(token.to_owned()))
    }

    /// The content of `gs://bucket/object`, at most `limit` bytes.
    pub async fn get(&self, bucket: &str, object: &str, limit: usize) -> Result<Vec<u8>, String> {
        let what = format!("reading gs://{bucket}/{object}");
        let mut url = self
            .endpoint
            .join(&format!(
                "storage/v1/b/{}/o/{}",
                encode_object(bucket),
                encode_object(object)
            ))
            .map_err(|e| format!("{what}: {e}"))?;
        url.query_pairs_mut().append_pair("alt", "media");
        let mut req = self.http.get(url);
        if let Some(token) = self.access_token().await.map_err(|e| format!("{what}: {e}"))? {
            req = req.bearer_auth(token);
        }
        let resp = req.send().await.map_err(|e| format!("{what}: {e}"))?;
        match resp.status().as_u16() {
            200 => {}
            401 | 403 => return Err(format!("{what}: access denied ({})", resp.status())),
            404 => return Err(format!("{what}: no such bucket or object")),
            _ => return Err(format!("{what}: the storage API answered {}", resp.status())),
        }
        crate::registry::read_limited(resp, limit)
            .await
            .map_err(|e| format!("{what}: {e}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn locations() {
        assert_eq!(
            split_url("gs://my-charts/team/a/").unwrap(),
            ("my-charts".into(), "team/a".into())
        );
        assert_eq!(
            split_url("gs://my-charts").unwrap(),
            ("my-charts".into(), String::new())
        );
        assert!(split_url("s3://x/y").is_err());
        assert!(split_url("gs://UPPER/x").is_err());
        assert!(split_url("gs://ab").is_err());
        assert_eq!(
            encode_object("team/demo-1.0.0+b.tgz"),
            "team%2Fdemo-1.0.0%2Bb.tgz"
        );
    }

    #[test]
    fn keys_are_checked() {
        assert!(
            ServiceAccountKey::parse("{}")
                .unwrap_err()
                .contains("service-account")
        );
        let no_key = r#"{"client_email":"a@b","private_key":"nope"}"#;
        assert!(ServiceAccountKey::parse(no_key).unwrap_err().contains("PKCS#8"));
    }
}
