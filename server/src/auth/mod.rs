//! Passwords (argon2 via `password-hash`), input validation for users, and login throttling.

pub mod claims;
pub mod proxy;
pub mod session;
pub mod throttle;

use app::{error::AppError, error::FieldError, model::Role};
use argon2::{Argon2, PasswordHash, PasswordHasher, PasswordVerifier};

/// Longest accepted username.
pub const MAX_USERNAME: usize = 64;
/// Shortest accepted password.
pub const MIN_PASSWORD: usize = 8;
/// Longest accepted password (argon2 has no limit, but hashing megabytes is a cheap DoS).
pub const MAX_PASSWORD: usize = 1024;

/// Hashes a password into a PHC string.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    let hash: PasswordHash = Argon2::default()
        .hash_password(password.as_bytes())
        .map_err(|e| anyhow::anyhow!("hashing password: {e}"))?;
    Ok(hash.to_string())
}

/// Whether `password` matches the stored PHC string. A malformed hash never matches.
pub fn verify_password(password: &str, stored: &str) -> bool {
    match PasswordHash::new(stored) {
        Ok(hash) => Argon2::default()
            .verify_password(password.as_bytes(), &hash)
            .is_ok(),
        Err(_) => false,
    }
}

/// A random password for the bootstrap admin.
pub fn random_password() -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

/// Collects field errors and turns them into one `AppError::Invalid`.
#[derive(Default)]
pub struct Validator(Vec<FieldError>);

impl Validator {
    /// Records a problem with `field`.
    pub fn fail(&mut self, field: &str, message: impl Into<String>) {
        self.0.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// `Ok` when nothing failed.
    pub fn finish(self) -> Result<(), AppError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(AppError::Invalid { fields: self.0 })
        }
    }

    /// Usernames: 1–64 of letters, digits, `.`, `_`, `-`, starting with a letter or digit.
    pub fn username(&mut self, field: &str, name: &str) {
        if name.is_empty() {
            self.fail(field, "Enter a username.");
        } else if name.chars().count() > MAX_USERNAME {
            self.fail(field, format!("At most {MAX_USERNAME} characters."));
        } else if !name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric())
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            self.fail(
                field,
                "Use letters, digits, '.', '_' or '-', starting with a letter or digit.",
            );
        }
    }

    /// Passwords: 8–1024 characters.
    pub fn password(&mut self, field: &str, password: &str) {
        let n = password.chars().count();
        if n < MIN_PASSWORD {
            self.fail(field, format!("At least {MIN_PASSWORD} characters."));
        } else if n > MAX_PASSWORD {
            self.fail(field, format!("At most {MAX_PASSWORD} characters."));
        }
    }

    /// A role name; `None` if it is not one.
    pub fn role(&mut self, field: &str, role: &str) -> Option<Role> {
        match role.parse() {
            Ok(r) => Some(r),
            Err(msg) => {
                self.fail(field, msg);
                None
            }
        }
    }

    /// Optional display name (≤ 100 characters, no control characters); blank means none.
    pub fn display_name(&mut self, field: &str, name: &str) -> Option<String> {
        let name = name.trim();
        if name.chars().count() > 100 {
            self.fail(field, "At most 100 characters.");
        } else if name.chars().any(char::is_control) {
            self.fail(field, "Control characters are not allowed.");
        }
        (!name.is_empty()).then(|| name.to_owned())
    }

    /// Optional email (≤ 254 characters, one `@` with text on both sides); blank means none.
    pub fn email(&mut self, field: &str, email: &str) -> Option<String> {
        let email = email.trim();
        if email.is_empty() {
            return None;
        }
        let well_formed = email.len() <= 254
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && matches!(email.split_once('@'), Some((local, domain)) if !local.is_empty() && domain.contains('.') && !domain.contains('@'));
        if !well_formed {
            self.fail(field, "Enter a valid email address.");
        }
        Some(email.to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_roundtrip_and_salted() {
        let a = hash_password("correct horse").unwrap();
        let b = hash_password("correct horse").unwrap();
        assert_ne!(a, b, "each hash has its own salt");
        assert!(a.starts_with("$argon2id$"));
        assert!(verify_password("correct horse", &a));
        assert!(!verify_password("wrong horse", &a));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn validation_messages() {
        let mut v = Validator::default();
        v.username("username", &"x".repeat(65));
        v.username("u2", "-leading");
        v.username("u3", "ok.name_1-2");
        v.password("password", "");
        assert_eq!(v.role("role", "ROOT"), None);
        assert_eq!(v.email("email", "a@b.c"), Some("a@b.c".into()));
        v.email("email2", "no-at-sign");
        let err = v.finish().unwrap_err();
        for f in ["username", "u2", "password", "role", "email2"] {
            assert!(err.field(f).is_some(), "{f} should fail: {err:?}");
        }
        assert!(err.field("u3").is_none());
        assert!(err.field("email").is_none());
    }

    #[test]
    fn random_passwords_differ() {
        let a = random_password();
        assert_eq!(a.len(), 24);
        assert_ne!(a, random_password());
    }
}
