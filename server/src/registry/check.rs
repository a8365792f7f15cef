//! "Test connection": GET `/v2/` with the registry's TLS settings and credentials, following
//! the Distribution auth flow (Basic, or a Bearer token from the realm the registry names), and
//! report the stage that failed in words. Secrets never appear in a message.

use app::model::ConnectionCheck;
use std::{error::Error as _, time::Duration};

/// Credentials for one registry.
#[derive(Clone)]
pub enum Credentials {
    Anonymous,
    Basic(String, String),
    Token(String),
}

/// Everything needed to reach one registry.
#[derive(Clone)]
pub struct RegistryConn {
    pub url: String,
    pub ca_pem: Option<String>,
    pub skip_tls_verify: bool,
    pub auth: Credentials,
}

impl std::fmt::Debug for RegistryConn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RegistryConn")
            .field("url", &self.url)
            .finish_non_exhaustive()
    }
}

fn result(ok: bool, stage: &str, message: impl Into<String>) -> ConnectionCheck {
    ConnectionCheck {
        ok,
        stage: stage.into(),
        message: message.into(),
    }
}

/// A reqwest client with the registry's TLS settings.
pub fn http_client(conn: &RegistryConn, timeout: Duration) -> Result<reqwest::Client, String> {
    let mut b = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .user_agent(concat!("o-neko/", env!("CARGO_PKG_VERSION")));
    if conn.skip_tls_verify {
        b = b.danger_accept_invalid_certs(true);
    } else if let Some(pem) = &conn.ca_pem {
        b = b.tls_backend_preconfigured(super::tls::client_config(pem)?);
    }
    b.build().map_err(|e| format!("HTTP client: {e}"))
}

/// Classifies a transport error: which stage failed, in words.
pub(crate) fn classify(e: &reqwest::Error, url: &str) -> ConnectionCheck {
    let mut chain = String::new();
    let mut source: Option<&dyn std::error::Error> = e.source();
    while let Some(s) = source {
        chain.push_str(&s.to_string().to_lowercase());
        chain.push(' ');
        source = s.source();
    }
    if e.is_timeout() {
        return result(false, "timeout", format!("{url} did not answer in time"));
    }
    if chain.contains("dns error")
        || chain.contains("failed to lookup")
        || chain.contains("name or service not known")
    {
        return result(false, "dns", format!("the host of {url} could not be resolved"));
    }
    if chain.contains("certificate") || chain.contains("tls") || chain.contains("handshake") {
        return result(
            false,
            "tls",
            format!(
                "TLS with {url} failed ({}); add the registry's CA certificate, or switch off verification",
                chain.trim()
            ),
        );
    }
    if e.is_connect() {
        return result(
            false,
            "connect",
            format!("could not connect to {url} ({})", chain.trim()),
        );
    }
    result(
        false,
        "connect",
        format!("request to {url} failed ({})", chain.trim()),
    )
}

/// `key="value"` pairs of a `WWW-Authenticate: Bearer ...` header.
pub(crate) fn challenge_params(header: &str) -> Vec<(String, String)> {
    let rest = header
        .trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .trim();
    let mut out = vec![];
    for part in rest.split(',') {
        if let Some((k, v)) = part.split_once('=') {
            out.push((k.trim().to_lowercase(), v.trim().trim_matches('"').to_owned()));
        }
    }
    out
}

/// A Bearer token from the realm the registry's challenge names, for Basic credentials;
/// `Err` is the check's failed result.
async fn bearer_token(
    client: &reqwest::Client,
    challenge: &str,
    user: &str,
    pass: &str,
) -> Result<String, ConnectionCheck> {
    let params = challenge_params(challenge);
    let get = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let Some(realm) = get("realm") else {
        return Err(result(
            false,
            "auth",
            "the registry asked for a Bearer token but named no realm",
        ));
    };
    let token_url = match get("service") {
        Some(service) => reqwest::Url::parse_with_params(&realm, &[("service", service)]),
        None => reqwest::Url::parse(&realm),
    };
    let Ok(token_url) = token_url else {
        return Err(result(
            false,
            "auth",
            format!("the registry named an invalid token realm '{realm}'"),
        ));
    };
    let token_resp = match client.get(token_url).basic_auth(user, Some(pass)).send().await {
        Ok(r) => r,
        Err(e) => return Err(classify(&e, &realm)),
    };
    if !token_resp.status().is_success() {
        return Err(result(
            false,
            "auth",
            format!(
                "the token service {realm} refused the credentials ({})",
                token_resp.status()
            ),
        ));
    }
    let body: serde_json::Value = match super::read_limited(token_resp, 1 << 20).await {
        Ok(b) => match serde_json::from_slice(&b) {
            Ok(b) => b,
            Err(_) => {
                return Err(result(
                    false,
                    "auth",
                    format!("the token service {realm} sent no JSON"),
                ));
            }
        },
        Err(e) => return Err(result(false, "auth", format!("the token service {realm}: {e}"))),
    };
    let Some(token) = body["token"].as_str().or(body["access_token"].as_str()) else {
        return Err(result(
            false,
            "auth",
            format!("the token service {realm} sent no token"),
        ));
    };
    Ok(token.to_owned())
}

/// Runs the check.
pub async fn check(conn: &RegistryConn) -> ConnectionCheck {
    let client = match http_client(conn, Duration::from_secs(10)) {
        Ok(c) => c,
        Err(e) => return result(false, "tls", e),
    };
    let v2 = format!("{}/v2/", conn.url);
    let first = match client.get(&v2).send().await {
        Ok(r) => r,
        Err(e) => return classify(&e, &conn.url),
    };
    let status = first.status();
    if status.is_success() {
        return result(
            true,
            "ok",
            format!("{v2} answered {status}; the registry is reachable"),
        );
    }
    if status == reqwest::StatusCode::NOT_FOUND {
        return result(
            false,
            "api",
            format!("{v2} answered 404: this URL serves no Docker registry API"),
        );
    }
    if status != reqwest::StatusCode::UNAUTHORIZED {
        return result(false, "api", format!("{v2} answered {status}"));
    }
    let challenge = first
        .headers()
        .get(reqwest::header::WWW_AUTHENTICATE)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("")
        .to_owned();
    let scheme = challenge.split_whitespace().next().unwrap_or("").to_lowercase();
    let retry = match (&conn.auth, scheme.as_str()) {
        (Credentials::Anonymous, _) => {
            return result(
                false,
                "auth",
                "the registry requires credentials (401), none are configured",
            );
        }
        (Credentials::Basic(user, pass), "basic") => {
            client.get(&v2).basic_auth(user, Some(pass)).send().await
        }
        (Credentials::Token(token), _) => client.get(&v2).bearer_auth(token).send().await,
        (Credentials::Basic(user, pass), "bearer") => {
            let token = match bearer_token(&client, &challenge, user, pass).await {
                Ok(t) => t,
                Err(failed) => return failed,
            };
            client.get(&v2).bearer_auth(token).send().await
        }
        (Credentials::Basic(..), other) => {
            return result(
                false,
                "auth",
                format!("the registry asks for an unsupported auth scheme '{other}'"),
            );
        }
    };
    match retry {
        Err(e) => classify(&e, &conn.url),
        Ok(r) if r.status().is_success() => result(
            true,
            "ok",
            format!("{v2} answered {} with the configured credentials", r.status()),
        ),
        Ok(r) if r.status() == reqwest::StatusCode::UNAUTHORIZED => result(
            false,
            "auth",
            "the registry rejected the credentials (401): check username and password or token",
        ),
        Ok(r) => result(
            false,
            "api",
            format!("{v2} answered {} with credentials", r.status()),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::challenge_params;

    #[test]
    fn parses_bearer_challenge() {
        let p = challenge_params(
            r#"Bearer realm="https://auth.example/token",service="registry.example",scope="x""#,
        );
        assert_eq!(p[0], ("realm".into(), "https://auth.example/token".into()));
        assert_eq!(p[1], ("service".into(), "registry.example".into()));
    }
}
