//! The Helm registry form: validation, and what a change changes (for the activity log).

use super::*;

/// A validated form.
pub(super) struct Valid {
    pub name: String,
    pub kind: HelmRegistryKind,
    pub url: String,
    pub username: Option<String>,
    pub ca_pem: Option<String>,
}

/// What a form changes of a Helm registry, besides its secret, for the activity log.
pub(super) fn changes(old: &helm_registry::Model, valid: &Valid, plain_http: bool) -> Vec<String> {
    let mut changes = vec![];
    if old.name != valid.name {
        changes.push(format!("name {} → {}", old.name, valid.name));
    }
    if old.kind != valid.kind.as_str() {
        changes.push(format!("kind {}", valid.kind.label()));
    }
    if old.url != valid.url {
        changes.push(format!("URL {} → {}", old.url, valid.url));
    }
    if old.username != valid.username {
        changes.push("username changed".into());
    }
    if old.ca_pem != valid.ca_pem {
        changes.push("CA certificate changed".into());
    }
    if old.plain_http != plain_http {
        changes.push(format!("plain HTTP {}", if plain_http { "on" } else { "off" }));
    }
    changes
}

/// Checks the form; `stored_secret` says whether a secret of the same kind is kept, `moved`
/// that one is stored but the URL now points to another host (so it is not kept).
pub(super) fn validate(
    input: &HelmRegistryInput,
    stored_secret: bool,
    moved: bool,
) -> Result<Valid, AppError> {
    let mut v = Validator::default();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        v.fail("name", "Enter a name.");
    } else if name.chars().count() > 100 || name.chars().any(char::is_control) {
        v.fail("name", "At most 100 characters, no control characters.");
    }
    let kind = match input.kind.parse::<HelmRegistryKind>() {
        Ok(k) => Some(k),
        Err(e) => {
            v.fail("kind", e);
            None
        }
    };
    let url = input.url.trim().trim_end_matches('/').to_owned();
    match kind {
        Some(HelmRegistryKind::Http) => match reqwest::Url::parse(&url) {
            Ok(u) if u.scheme() == "http" && !input.plain_http => {
                v.fail("url", "Plain http needs the \"plain HTTP\" switch; prefer https.")
            }
            Ok(u) if u.scheme() != "https" && u.scheme() != "http" => {
                v.fail("url", "A chart repository URL starts with https:// (or http://).")
            }
            Ok(u) if !u.username().is_empty() || u.password().is_some() => {
                v.fail("url", "Put credentials in the credential fields, not in the URL.")
            }
            Ok(u) if u.query().is_some() || u.fragment().is_some() || u.host_str().is_none() => {
                v.fail("url", "A repository URL has a host and no query or fragment.")
            }
            Ok(_) => {}
            Err(_) => v.fail(
                "url",
                "Enter the repository's URL, e.g. https://charts.example.com/stable",
            ),
        },
        Some(HelmRegistryKind::Oci) => {
            let ok = url.strip_prefix("oci://").is_some_and(|rest| {
                reqwest::Url::parse(&format!("https://{rest}")).is_ok_and(|u| {
                    u.host_str().is_some()
                        && u.username().is_empty()
                        && u.query().is_none()
                        && u.fragment().is_none()
                })
            });
            if !ok {
                v.fail(
                    "url",
                    "Enter oci://host/path, e.g. oci://registry.example.com/charts (no credentials in it).",
                );
            }
        }
        Some(HelmRegistryKind::Gcs) => {
            if let Err(e) = gcs::split_url(&url) {
                v.fail("url", format!("Enter gs://bucket/path: {e}."));
            }
        }
        None => {}
    }
    let username = input.username.trim().to_owned();
    let new_secret = input.secret.as_deref().filter(|s| !s.is_empty());
    if new_secret.is_some_and(|s| s.len() > MAX_SECRET) {
        v.fail("secret", format!("At most {} KiB.", MAX_SECRET >> 10));
    }
    let has_secret = new_secret.is_some() || stored_secret;
    match kind {
        Some(HelmRegistryKind::Gcs) => {
            if let Some(Err(e)) = new_secret.map(ServiceAccountKey::parse) {
                v.fail("secret", format!("Paste the service account's JSON key: {e}."));
            }
        }
        Some(_) => {
            if has_secret && username.is_empty() {
                v.fail("username", "Enter the username that goes with the password.");
            }
            if !username.is_empty() && !has_secret {
                v.fail(
                    "secret",
                    if moved {
                        crate::registry::secret_for_new_url("password")
                    } else {
                        "Enter the password.".into()
                    },
                );
            }
        }
        None => {}
    }
    let ca_pem = input.ca_pem.trim().to_owned();
    if !ca_pem.is_empty() && !is_pem_certificate(&ca_pem) {
        v.fail(
            "ca_pem",
            "Paste a PEM certificate (-----BEGIN CERTIFICATE----- …).",
        );
    }
    v.finish()?;
    let kind = kind.unwrap_or(HelmRegistryKind::Http);
    Ok(Valid {
        name,
        kind,
        url,
        username: (kind != HelmRegistryKind::Gcs && !username.is_empty()).then_some(username),
        ca_pem: (kind != HelmRegistryKind::Gcs && !ca_pem.is_empty()).then_some(ca_pem),
    })
}
