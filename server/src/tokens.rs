//! Personal API tokens: created by their owner in the UI, sent by CI pipelines as
//! `Authorization: Bearer onk_<id>_<secret>`. The database holds a SHA-256 of the secret: the
//! secret is 256 random bits, so no password hash (and no per-request argon2) is needed, and a
//! leaked database does not leak usable tokens.

use crate::{
    activity,
    auth::Validator,
    db::entity::{api_token, user},
    error::Doing,
};
use app::{
    error::AppError,
    model::{ApiToken, CreatedApiToken, CurrentUser, NewApiToken, Role, UserId},
    ssr::Tokens,
};
use chrono::{DateTime, Duration, Utc};
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use subtle::ConstantTimeEq;

/// What every token starts with, so secret scanners and people recognise it.
pub const PREFIX: &str = "onk_";
/// How often a token's last-used time is written: a CI job polling every second must not turn
/// each read into a database write.
const LAST_USED_RESOLUTION: Duration = Duration::seconds(60);
/// Longest expiry a token may be given.
const MAX_DAYS: i64 = 3650;

/// Why a bearer token was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Not of the form `onk_<id>_<secret>`.
    Malformed,
    /// No such token (revoked, or its user deleted), or the secret is wrong.
    Unknown,
    Expired,
}

impl Refusal {
    /// The message the caller gets.
    pub fn message(self) -> &'static str {
        match self {
            Refusal::Malformed => "The bearer token is not an O-Neko API token (onk_…).",
            Refusal::Unknown => "The API token is not valid: it was revoked, or its user was deleted.",
            Refusal::Expired => "The API token has expired.",
        }
    }
}

/// Splits `onk_<id>_<secret>`.
fn parse(raw: &str) -> Option<(i64, &str)> {
    let (id, secret) = raw.strip_prefix(PREFIX)?.split_once('_')?;
    let id = id.parse().ok()?;
    (secret.len() == 64 && secret.bytes().all(|b| b.is_ascii_hexdigit())).then_some((id, secret))
}

fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// The role a token acts with: its owner's, capped.
fn effective_role(owner: Role, cap: Option<&str>) -> Role {
    match cap.and_then(|c| c.parse::<Role>().ok()) {
        Some(cap) => owner.min(cap),
        None => owner,
    }
}

fn to_model(m: api_token::Model, owner: String) -> ApiToken {
    ApiToken {
        id: m.id,
        owner,
        name: m.name,
        role_cap: m.role_cap.and_then(|c| c.parse().ok()),
        created_at: m.created_at,
        expires_at: m.expires_at,
        last_used_at: m.last_used_at,
    }
}

/// A checked form: the name, when it expires, and the role cap.
type Checked = (String, Option<DateTime<Utc>>, Option<Role>);

/// The checked form.
fn validate(actor: &CurrentUser, input: &NewApiToken, now: DateTime<Utc>) -> Result<Checked, AppError> {
    let mut v = Validator::default();
    let name = input.name.trim().to_owned();
    if name.is_empty() {
        v.fail("name", "Enter a name, e.g. the pipeline that uses it.");
    } else if name.chars().count() > 100 {
        v.fail("name", "At most 100 characters.");
    } else if name.chars().any(char::is_control) {
        v.fail("name", "Control characters are not allowed.");
    }
    let days = input.expires_in_days.trim();
    let expires_at = if days.is_empty() {
        None
    } else {
        match days.parse::<i64>() {
            Ok(d) if (1..=MAX_DAYS).contains(&d) => Some(now + Duration::days(d)),
            _ => {
                v.fail(
                    "expires_in_days",
                    format!("A whole number of days from 1 to {MAX_DAYS}, or empty for never."),
                );
                None
            }
        }
    };
    let cap = input.role_cap.trim();
    let cap = if cap.is_empty() {
        None
    } else {
        match v.role("role_cap", cap) {
            Some(r) if r > actor.role => {
                v.fail(
                    "role_cap",
                    format!("A token cannot act with more than your role ({}).", actor.role),
                );
                None
            }
            other => other,
        }
    };
    v.finish()?;
    Ok((name, expires_at, cap))
}

/// The tokens table.
pub struct SqlTokens {
    db: DatabaseConnection,
    /// When this replica last recorded each token's use: the record is written in the background
    /// (a write waits for SQLite's one writer, and a poller's request should not), and lists show
    /// it at once.
    used: std::sync::Mutex<HashMap<i64, DateTime<Utc>>>,
    /// Those writes, so a clean shutdown waits for them ([`SqlTokens::flush`]).
    writes: tokio_util::task::TaskTracker,
}

impl SqlTokens {
    pub fn new(db: DatabaseConnection) -> Self {
        SqlTokens {
            db,
            used: Default::default(),
            writes: Default::default(),
        }
    }

    /// Waits for the last-use records still being written.
    pub async fn flush(&self) {
        self.writes.close();
        self.writes.wait().await;
    }

    /// The later of the stored last use and one recorded here and maybe not yet written.
    fn last_used(&self, m: &api_token::Model) -> Option<DateTime<Utc>> {
        let recorded = self.used.lock().unwrap().get(&m.id).copied();
        m.last_used_at.max(recorded)
    }

    /// The user a bearer token acts for, with its (capped) role and its name for the activity
    /// log. A successful check records the use, to the minute.
    pub async fn verify(&self, raw: &str) -> Result<Result<CurrentUser, Refusal>, AppError> {
        let Some((id, secret)) = parse(raw) else {
            return Ok(Err(Refusal::Malformed));
        };
        let Some(token) = api_token::Entity::find_by_id(id)
            .one(&self.db)
            .await
            .doing("reading API tokens")?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        if !bool::from(digest(secret).as_bytes().ct_eq(token.secret_hash.as_bytes())) {
            return Ok(Err(Refusal::Unknown));
        }
        let now = Utc::now();
        if token.expires_at.is_some_and(|at| at <= now) {
            return Ok(Err(Refusal::Expired));
        }
        let Some(owner) = user::Entity::find_by_id(token.user_id)
            .one(&self.db)
            .await
            .doing("reading users")?
        else {
            return Ok(Err(Refusal::Unknown));
        };
        if self
            .last_used(&token)
            .is_none_or(|at| now - at >= LAST_USED_RESOLUTION)
        {
            self.used.lock().unwrap().insert(token.id, now);
            let (db, id) = (self.db.clone(), token.id);
            self.writes.spawn(async move {
                let written = api_token::Entity::update_many()
                    .col_expr(
                        api_token::Column::LastUsedAt,
                        sea_orm::sea_query::Expr::value(now),
                    )
                    .filter(api_token::Column::Id.eq(id))
                    .exec(&db)
                    .await;
                if let Err(e) = written {
                    tracing::warn!(token = id, error = %e, "recording a token's use failed");
                }
            });
        }
        let mut who = CurrentUser::from(&owner);
        who.role = effective_role(owner.role(), token.role_cap.as_deref());
        who.token = Some(token.name);
        Ok(Ok(who))
    }
}

#[async_trait::async_trait]
impl Tokens for SqlTokens {
    async fn list(&self, owner: Option<UserId>) -> Result<Vec<ApiToken>, AppError> {
        let mut select = api_token::Entity::find()
            .order_by_asc(api_token::Column::UserId)
            .order_by_asc(api_token::Column::Name);
        if let Some(owner) = owner {
            select = select.filter(api_token::Column::UserId.eq(owner.0));
        }
        let tokens = select.all(&self.db).await.doing("reading API tokens")?;
        let names: HashMap<i64, String> = user::Entity::find()
            .all(&self.db)
            .await
            .doing("reading users")?
            .into_iter()
            .map(|u| (u.id, u.username))
            .collect();
        Ok(tokens
            .into_iter()
            .map(|mut t| {
                let owner = names.get(&t.user_id).cloned().unwrap_or_default();
                t.last_used_at = self.last_used(&t);
                to_model(t, owner)
            })
            .collect())
    }

    async fn create(&self, actor: &CurrentUser, input: NewApiToken) -> Result<CreatedApiToken, AppError> {
        let now = Utc::now();
        let (name, expires_at, cap) = validate(actor, &input, now)?;
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("writing API tokens")?;
        let taken = api_token::Entity::find()
            .filter(api_token::Column::UserId.eq(actor.id.0))
            .filter(api_token::Column::Name.eq(&name))
            .one(&txn)
            .await
            .doing("reading API tokens")?;
        if taken.is_some() {
            return Err(AppError::invalid(
                "name",
                format!("You already have a token named '{name}'."),
            ));
        }
        let secret = {
            use rand::RngCore;
            let mut bytes = [0u8; 32];
            rand::rng().fill_bytes(&mut bytes);
            hex::encode(bytes)
        };
        let saved = api_token::ActiveModel {
            user_id: Set(actor.id.0),
            name: Set(name.clone()),
            secret_hash: Set(digest(&secret)),
            role_cap: Set(cap.map(|r| r.as_str().to_owned())),
            created_at: Set(now),
            expires_at: Set(expires_at),
            last_used_at: Set(None),
            ..Default::default()
        }
        .insert(&txn)
        .await
        .doing("writing API tokens")?;
        let subject = format!("{}/{name}", actor.username);
        let message = match cap {
            Some(cap) => format!("API token {name} created, acting as at most {cap}"),
            None => format!("API token {name} created"),
        };
        activity::user_action(&txn, actor, "token.created", &subject, message).await?;
        txn.commit().await.doing("writing API tokens")?;
        tracing::info!(user = %actor.username, token = %name, "API token created");
        Ok(CreatedApiToken {
            secret: format!("{PREFIX}{}_{secret}", saved.id),
            token: to_model(saved, actor.username.clone()),
        })
    }

    async fn revoke(&self, actor: &CurrentUser, id: i64) -> Result<(), AppError> {
        let txn = crate::db::begin_write(&self.db)
            .await
            .doing("writing API tokens")?;
        let token = api_token::Entity::find_by_id(id)
            .one(&txn)
            .await
            .doing("reading API tokens")?
            .filter(|t| t.user_id == actor.id.0 || actor.has(Role::Admin))
            .ok_or_else(|| AppError::not_found(format!("API token {id}")))?;
        api_token::Entity::delete_by_id(id)
            .exec(&txn)
            .await
            .doing("writing API tokens")?;
        let owner = user::Entity::find_by_id(token.user_id)
            .one(&txn)
            .await
            .doing("reading users")?
            .map(|u| u.username)
            .unwrap_or_default();
        let subject = format!("{owner}/{}", token.name);
        activity::user_action(
            &txn,
            actor,
            "token.revoked",
            &subject,
            format!("API token {} revoked", token.name),
        )
        .await?;
        txn.commit().await.doing("writing API tokens")?;
        tracing::info!(actor = %actor.username, owner = %owner, token = %token.name, "API token revoked");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice(role: Role) -> CurrentUser {
        CurrentUser {
            id: UserId(1),
            username: "alice".into(),
            display_name: None,
            role,
            token: None,
        }
    }

    #[test]
    fn parses_only_well_formed_tokens() {
        let secret = "a".repeat(64);
        assert_eq!(parse(&format!("onk_12_{secret}")), Some((12, secret.as_str())));
        for bad in [
            "",
            "onk_",
            "onk_x_aa",
            &format!("onk_12_{}", "a".repeat(63)),
            &format!("onk_12_{}", "g".repeat(64)),
            &format!("xyz_12_{secret}"),
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn a_cap_only_lowers_the_role() {
        assert_eq!(effective_role(Role::Admin, Some("VIEWER")), Role::Viewer);
        assert_eq!(effective_role(Role::Viewer, Some("ADMIN")), Role::Viewer);
        assert_eq!(effective_role(Role::Doer, None), Role::Doer);
    }

    #[test]
    fn the_form_is_checked() {
        let now = Utc::now();
        let ok = validate(
            &alice(Role::Doer),
            &NewApiToken {
                name: " ci ".into(),
                expires_in_days: "30".into(),
                role_cap: "VIEWER".into(),
            },
            now,
        )
        .unwrap();
        assert_eq!(
            ok,
            ("ci".into(), Some(now + Duration::days(30)), Some(Role::Viewer))
        );
        let err = validate(
            &alice(Role::Doer),
            &NewApiToken {
                name: "".into(),
                expires_in_days: "0".into(),
                role_cap: "ADMIN".into(),
            },
            now,
        )
        .unwrap_err();
        for field in ["name", "expires_in_days", "role_cap"] {
            assert!(err.field(field).is_some(), "{field}: {err:?}");
        }
        assert!(err.field("role_cap").unwrap().contains("more than your role"));
    }
}
