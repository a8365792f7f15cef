//! Secrets at rest (registry passwords and tokens): AES-256-GCM under a key from
//! `ONEKO_SECRET_KEY` or from a key file generated on first start in the data directory.
//! Sealed values look like `v1:<base64(nonce ‖ ciphertext)>`; the associated data binds a
//! value to what it belongs to, so a ciphertext copied to another column does not decrypt.

use aes_gcm::{
    Aes256Gcm, KeyInit, Nonce,
    aead::{Aead, Payload},
};
use anyhow::{Context, bail};
use base64::{Engine, engine::general_purpose::STANDARD as B64};
use std::path::Path;

/// Name of the key file in the data directory.
pub const KEY_FILE: &str = "secret.key";

/// Encrypts and decrypts secrets with the installation's key.
#[derive(Clone)]
pub struct SecretBox {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for SecretBox {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretBox(..)")
    }
}

fn parse_key(text: &str) -> anyhow::Result<[u8; 32]> {
    let text = text.trim();
    let bytes = if text.len() == 64 && text.chars().all(|c| c.is_ascii_hexdigit()) {
        (0..32)
            .map(|i| u8::from_str_radix(&text[2 * i..2 * i + 2], 16))
            .collect::<Result<Vec<_>, _>>()?
    } else {
        B64.decode(text)
            .context("the key is neither 64 hex digits nor base64")?
    };
    match <[u8; 32]>::try_from(bytes.as_slice()) {
        Ok(key) => Ok(key),
        Err(_) => bail!("the key must be 32 bytes (256 bits), got {}", bytes.len()),
    }
}

impl SecretBox {
    /// A box over a raw key.
    pub fn from_key(key: [u8; 32]) -> Self {
        Self {
            cipher: Aes256Gcm::new(&key.into()),
        }
    }

    /// The configured key, or the key file in `data_dir`, created (mode 0600) if missing.
    pub fn load(configured: Option<&str>, data_dir: &Path) -> anyhow::Result<Self> {
        if let Some(text) = configured.filter(|t| !t.trim().is_empty()) {
            return Ok(Self::from_key(parse_key(text).context("ONEKO_SECRET_KEY")?));
        }
        let path = data_dir.join(KEY_FILE);
        if path.exists() {
            let text =
                std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            return Ok(Self::from_key(
                parse_key(&text).with_context(|| format!("key file {}", path.display()))?,
            ));
        }
        std::fs::create_dir_all(data_dir)?;
        let key: [u8; 32] = rand::random();
        write_private(&path, &B64.encode(key))?;
        tracing::warn!(path = %path.display(), "generated a new secret key; back it up together with the database");
        Ok(Self::from_key(key))
    }

    /// Encrypts `plaintext` for the context `aad`.
    pub fn seal(&self, plaintext: &str, aad: &str) -> String {
        let nonce_bytes: [u8; 12] = rand::random();
        let ct = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce_bytes),
                Payload {
                    msg: plaintext.as_bytes(),
                    aad: aad.as_bytes(),
                },
            )
            .expect("AES-GCM encryption of an in-memory buffer cannot fail");
        let mut out = nonce_bytes.to_vec();
        out.extend_from_slice(&ct);
        format!("v1:{}", B64.encode(out))
    }

    /// Decrypts a value sealed for `aad`. Fails (without detail) on a wrong key or context.
    pub fn open(&self, sealed: &str, aad: &str) -> anyhow::Result<String> {
        let raw = sealed.strip_prefix("v1:").context("unknown secret format")?;
        let bytes = B64.decode(raw).context("secret is not base64")?;
        if bytes.len() < 12 + 16 {
            bail!("secret too short");
        }
        let (nonce, ct) = bytes.split_at(12);
        let pt = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: aad.as_bytes(),
                },
            )
            .map_err(|_| {
                anyhow::anyhow!("secret cannot be decrypted with this key (was the key changed?)")
            })?;
        String::from_utf8(pt).context("secret is not UTF-8")
    }
}

#[cfg(unix)]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    use std::{io::Write, os::unix::fs::OpenOptionsExt};
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("creating {}", path.display()))?;
    f.write_all(content.as_bytes())?;
    f.sync_all()?;
    Ok(())
}

#[cfg(not(unix))]
fn write_private(path: &Path, content: &str) -> anyhow::Result<()> {
    std::fs::write(path, content).with_context(|| format!("creating {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_open_roundtrip_and_context_binding() {
        let b = SecretBox::from_key([7; 32]);
        let sealed = b.seal("p@ss!$word", "docker-registry:1");
        assert!(sealed.starts_with("v1:"));
        assert!(!sealed.contains("p@ss"));
        assert_ne!(
            sealed,
            b.seal("p@ss!$word", "docker-registry:1"),
            "fresh nonce each time"
        );
        assert_eq!(b.open(&sealed, "docker-registry:1").unwrap(), "p@ss!$word");
        assert!(b.open(&sealed, "docker-registry:2").is_err());
        assert!(
            SecretBox::from_key([8; 32])
                .open(&sealed, "docker-registry:1")
                .is_err()
        );
        assert!(b.open("v1:AAAA", "x").is_err());
        assert!(b.open("garbage", "x").is_err());
    }

    #[test]
    fn key_file_is_created_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let a = SecretBox::load(None, dir.path()).unwrap();
        let sealed = a.seal("token", "t");
        let b = SecretBox::load(None, dir.path()).unwrap();
        assert_eq!(b.open(&sealed, "t").unwrap(), "token");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join(KEY_FILE))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }

    #[test]
    fn configured_keys() {
        let hex = "00".repeat(32);
        assert!(SecretBox::load(Some(&hex), Path::new("/nonexistent")).is_ok());
        let b64 = B64.encode([1u8; 32]);
        assert!(SecretBox::load(Some(&b64), Path::new("/nonexistent")).is_ok());
        let err = SecretBox::load(Some("c2hvcnQ="), Path::new("/nonexistent")).unwrap_err();
        assert!(format!("{err:#}").contains("32 bytes"), "{err:#}");
    }
}
