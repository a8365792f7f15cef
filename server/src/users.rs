//! Users and logging in: the server's implementation of `app::ssr::Users` over SeaORM.

use crate::{
    activity,
    auth::{self, Validator, throttle::LoginThrottle},
    db::entity::user,
    error::Doing,
};
use app::{
    error::AppError,
    model::{CurrentUser, NewUser, Role, User, UserId, UserUpdate},
    ssr::{SessionUser, Users},
};
use chrono::Utc;
use sea_orm::{
    ActiveModelTrait, ActiveValue::Set, ColumnTrait, ConnectionTrait, DatabaseConnection, DbBackend, DbErr,
    EntityTrait, PaginatorTrait, QueryFilter, QueryOrder, QuerySelect,
};
use std::{net::IpAddr, sync::Arc};

/// Records a user-administration entry in the activity log.
async fn log_user<C: ConnectionTrait>(
    c: &C,
    actor: &CurrentUser,
    kind: &str,
    subject: &str,
    message: String,
) -> Result<(), AppError> {
    activity::user_action(c, actor, kind, subject, message).await
}

/// A person as the identity provider vouched for them at a single sign-on.
pub struct ExternalIdentity {
    /// `<issuer>#<sub>`: who they are, for good.
    pub subject: String,
    /// The name for a new user (an existing one keeps theirs).
    pub username: String,
    pub display_name: Option<String>,
    pub email: Option<String>,
    /// Mapped from their groups at this sign-in.
    pub role: Role,
    pub groups: Vec<String>,
}

/// Users and logins.
pub struct SqlUsers {
    db: DatabaseConnection,
    throttle: Arc<LoginThrottle>,
    /// With `--password-login break-glass`: the lower-cased name of the only user who may still
    /// log in with a password.
    break_glass_only: Option<String>,
    /// A valid hash to verify against when the user does not exist, so that unknown and known
    /// usernames take the same time.
    dummy_hash: String,
}

impl SqlUsers {
    /// A backend over `db` with the given login throttle.
    pub fn new(db: DatabaseConnection, throttle: Arc<LoginThrottle>) -> anyhow::Result<Self> {
        Ok(Self {
            db,
            throttle,
            break_glass_only: None,
            dummy_hash: auth::hash_password("not a real password")?,
        })
    }

    /// Only `user` may log in with a password from now on (everyone else signs in with OpenID
    /// Connect).
    pub fn break_glass_only(mut self, user: &str) -> Self {
        self.break_glass_only = Some(user.to_lowercase());
        self
    }

    /// Signs in someone the identity provider vouched for: their user (created at the first
    /// sign-in) with the role their groups map to now, and their session epoch. A local user
    /// of the same name is never taken over.
    pub async fn sign_in_external(&self, who: ExternalIdentity) -> Result<(CurrentUser, i64), AppError> {
        let found = user::Entity::find()
            .filter(user::Column::ExternalSubject.eq(who.subject.clone()))
            .one(&self.db)
            .await
            .doing("accessing users")?;
        let groups = if who.groups.is_empty() {
            "no groups".to_owned()
        } else {
            format!("groups {}", who.groups.join(", "))
        };
        let Some(existing) = found else {
            return self.create_external(who, groups).await;
        };
        let before = existing.role();
        let unchanged =
            before == who.role && existing.display_name == who.display_name && existing.email == who.email;
        if unchanged {
            return Ok((CurrentUser::from(&existing), existing.auth_epoch));
        }
        let mut am: user::ActiveModel = existing.into();
        am.role = Set(who.role.to_string());
        am.display_name = Set(who.display_name);
        am.email = Set(who.email);
        am.updated_at = Set(Utc::now());
        let m = am.update(&self.db).await.doing("accessing users")?;
        let me = CurrentUser::from(&m);
        if before != who.role {
            let message = format!(
                "Role of {} {before} → {} at sign-in ({groups})",
                m.username, who.role
            );
            log_user(&self.db, &me, "user.role_synced", &m.username, message).await?;
            tracing::info!(user = %m.username, from = %before, to = %who.role, "role changed by the identity provider");
        }
        Ok((me, m.auth_epoch))
    }

    /// A known single sign-on user whose groups no longer map to a role: their sessions end and
    /// their API tokens go (the user stays, with their history; a later sign-in with a mapped
    /// group lets them in again). Nothing happens for someone never seen.
    pub async fn remove_external_access(&self, subject: &str, groups: &str) -> Result<(), AppError> {
        let Some(found) = user::Entity::find()
            .filter(user::Column::ExternalSubject.eq(subject))
            .one(&self.db)
            .await
            .doing("accessing users")?
        else {
            return Ok(());
        };
        let txn = crate::db::begin_write(&self.db).await.doing("accessing users")?;
        let tokens = crate::db::entity::api_token::Entity::delete_many()
            .filter(crate::db::entity::api_token::Column::UserId.eq(found.id))
            .exec(&txn)
            .await
            .doing("accessing API tokens")?
            .rows_affected;
        let me = CurrentUser::from(&found);
        let (name, epoch) = (found.username.clone(), found.auth_epoch);
        let mut am: user::ActiveModel = found.into();
        am.auth_epoch = Set(epoch + 1);
        am.updated_at = Set(Utc::now());
        am.update(&txn).await.doing("accessing users")?;
        let message = format!(
            "{name} was refused at sign-in ({groups} map to no role): their sessions ended and {tokens} API token(s) were revoked"
        );
        log_user(&txn, &me, "user.access_removed", &name, message).await?;
        txn.commit().await.doing("accessing users")?;
        tracing::warn!(user = %name, tokens, "single sign-on user lost their role: sessions ended, tokens revoked");
        Ok(())
    }

    async fn create_external(
        &self,
        who: ExternalIdentity,
        groups: String,
    ) -> Result<(CurrentUser, i64), AppError> {
        let key = who.username.to_lowercase();
        let taken = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(key.clone()))
            .count(&self.db)
            .await
            .doing("accessing users")?;
        let refusal = || {
            AppError::conflict(format!(
                "The username '{}' belongs to another O-Neko user, so this account cannot be created; an administrator must delete that user first.",
                who.username
            ))
        };
        if taken > 0 {
            return Err(refusal());
        }
        let now = Utc::now();
        let inserted = user::ActiveModel {
            username: Set(who.username.clone()),
            username_key: Set(key),
            display_name: Set(who.display_name.clone()),
            email: Set(who.email.clone()),
            role: Set(who.role.to_string()),
            // Not a PHC string: no password ever matches it.
            password_hash: Set(String::new()),
            auth_epoch: Set(0),
            external_subject: Set(Some(who.subject.clone())),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db)
        .await;
        let m = match inserted {
            Ok(m) => m,
            Err(e) if is_unique_violation(&e) => return Err(refusal()),
            Err(e) => return Err(Err::<(), _>(e).doing("creating user").unwrap_err().into()),
        };
        let me = CurrentUser::from(&m);
        let message = format!(
            "User {} created at their first single sign-on with role {} ({groups})",
            m.username, m.role
        );
        log_user(&self.db, &me, "user.created", &m.username, message).await?;
        tracing::info!(user = %m.username, role = %m.role, "user created by single sign-on");
        Ok((me, 0))
    }

    async fn find(&self, id: UserId) -> Result<user::Model, AppError> {
        user::Entity::find_by_id(id.0)
            .one(&self.db)
            .await
            .doing("accessing users")?
            .ok_or_else(|| AppError::not_found(format!("User {}", id.0)))
    }

    /// Hashes a new password through the hashing gate: waiting for a slot (ADMIN actions), or
    /// refused when the gate is full (`wait == false`: anything a non-admin can trigger).
    async fn hash(&self, password: String, wait: bool) -> Result<String, AppError> {
        let work = move || auth::hash_password(&password);
        let gate = self.throttle.hashing();
        let hashed = if wait {
            gate.run_waiting(work).await?
        } else {
            gate.run(work).await?
        };
        Ok(hashed.doing("hashing failed")?)
    }

    /// Stores a new password hash and bumps the session epoch, which voids the user's other
    /// sessions. Returns the new epoch.
    async fn set_password(&self, user: user::Model, password: String, wait: bool) -> Result<i64, AppError> {
        let hash = self.hash(password, wait).await?;
        let epoch = user.auth_epoch + 1;
        let mut am: user::ActiveModel = user.into();
        am.password_hash = Set(hash);
        am.auth_epoch = Set(epoch);
        am.updated_at = Set(Utc::now());
        am.update(&self.db).await.doing("accessing users")?;
        Ok(epoch)
    }

    /// Checks a password through the hashing gate (refused when it is full).
    async fn verify(&self, password: String, hash: String) -> Result<bool, AppError> {
        self.throttle
            .hashing()
            .run(move || auth::verify_password(&password, &hash))
            .await
    }
}

/// Creates the first administrator if there are no users at all. Returns the generated password
/// when none was configured, so the caller can print it once.
pub async fn bootstrap_admin(
    db: &DatabaseConnection,
    configured: Option<&str>,
) -> anyhow::Result<Option<Option<String>>> {
    if user::Entity::find().count(db).await? > 0 {
        return Ok(None);
    }
    let (password, generated) = match configured {
        Some(p) if !p.is_empty() => (p.to_owned(), None),
        _ => {
            let p = auth::random_password();
            (p.clone(), Some(p))
        }
    };
    let mut v = Validator::default();
    v.password("ONEKO_ADMIN_PASSWORD", &password);
    v.finish().map_err(|e| anyhow::anyhow!("{e}"))?;
    let hash = auth::hash_password(&password)?;
    let now = Utc::now();
    user::ActiveModel {
        username: Set("admin".into()),
        username_key: Set("admin".into()),
        display_name: Set(Some("Administrator".into())),
        email: Set(None),
        role: Set(Role::Admin.to_string()),
        password_hash: Set(hash),
        auth_epoch: Set(0),
        created_at: Set(now),
        updated_at: Set(now),
        ..Default::default()
    }
    .insert(db)
    .await?;
    Ok(Some(generated))
}

/// Locks the administrator rows where the database supports it, so two concurrent demotions
/// cannot both see "another admin is left".
async fn admins_locked<C: ConnectionTrait>(c: &C) -> Result<Vec<user::Model>, DbErr> {
    let q = user::Entity::find().filter(user::Column::Role.eq(Role::Admin.as_str()));
    match c.get_database_backend() {
        DbBackend::Postgres => q.lock_exclusive().all(c).await,
        _ => q.all(c).await,
    }
}

#[async_trait::async_trait]
impl Users for SqlUsers {
    async fn authenticate(
        &self,
        username: &str,
        password: &str,
        client: Option<IpAddr>,
    ) -> Result<(CurrentUser, i64), AppError> {
        // Refuses overlong input and throttled (username, client) pairs and clients before
        // anything is looked up or hashed. Dropping `attempt` (an error below) counts nothing.
        let attempt = self.throttle.begin(username, password, client)?;
        if let Some(allowed) = &self.break_glass_only
            && username.to_lowercase() != *allowed
        {
            return Err(AppError::invalid(
                "password",
                "Password login is turned off: log in with single sign-on.",
            ));
        }
        let found = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(username.to_lowercase()))
            .one(&self.db)
            .await
            .doing("accessing users")?;
        // Users who sign in with single sign-on have no password: they take the same time as
        // unknown ones and never match.
        let found = found.filter(|u| u.external_subject.is_none());
        let hash = found
            .as_ref()
            .map_or_else(|| self.dummy_hash.clone(), |u| u.password_hash.clone());
        let ok = self.verify(password.to_owned(), hash).await? && found.is_some();
        match found {
            Some(u) if ok => {
                attempt.succeeded();
                tracing::info!(user = %u.username, "login");
                Ok((CurrentUser::from(&u), u.auth_epoch))
            }
            _ => {
                attempt.failed();
                tracing::info!(username, ?client, "failed login");
                Err(AppError::invalid("password", "Wrong username or password."))
            }
        }
    }

    async fn session_user(&self, who: SessionUser) -> Result<Option<CurrentUser>, AppError> {
        let found = user::Entity::find_by_id(who.id.0)
            .one(&self.db)
            .await
            .doing("accessing users")?;
        // With password login limited to the break-glass user, other local users' sessions from
        // before end too.
        let locked_out = |u: &user::Model| {
            self.break_glass_only
                .as_ref()
                .is_some_and(|allowed| u.external_subject.is_none() && u.username_key != *allowed)
        };
        Ok(found
            .filter(|u| u.auth_epoch == who.epoch && !locked_out(u))
            .as_ref()
            .map(CurrentUser::from))
    }

    async fn list_users(&self) -> Result<Vec<User>, AppError> {
        let users = user::Entity::find()
            .order_by_asc(user::Column::UsernameKey)
            .all(&self.db)
            .await
            .doing("accessing users")?;
        Ok(users.into_iter().map(User::from).collect())
    }

    async fn create_user(&self, actor: &CurrentUser, new: NewUser) -> Result<User, AppError> {
        let mut v = Validator::default();
        let username = new.username.trim().to_owned();
        v.username("username", &username);
        v.password("password", &new.password);
        let role = v.role("role", &new.role);
        let display_name = v.display_name("display_name", &new.display_name);
        let email = v.email("email", &new.email);
        v.finish()?;
        let key = username.to_lowercase();
        let taken = user::Entity::find()
            .filter(user::Column::UsernameKey.eq(key.clone()))
            .count(&self.db)
            .await
            .doing("accessing users")?;
        if taken > 0 {
            return Err(AppError::conflict(format!(
                "A user named '{username}' already exists."
            )));
        }
        let hash = self.hash(new.password, true).await?;
        let now = Utc::now();
        let inserted = user::ActiveModel {
            username: Set(username.clone()),
            username_key: Set(key),
            display_name: Set(display_name),
            email: Set(email),
            role: Set(role.unwrap_or(Role::Viewer).to_string()),
            password_hash: Set(hash),
            auth_epoch: Set(0),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        }
        .insert(&self.db)
        .await;
        match inserted {
            Ok(m) => {
                log_user(
                    &self.db,
                    actor,
                    "user.created",
                    &m.username,
                    format!("User {} created with role {}", m.username, m.role),
                )
                .await?;
                tracing::info!(actor = %actor.username, user = %m.username, role = %m.role, "user created");
                Ok(m.into())
            }
            // A concurrent insert of the same name loses on the unique index.
            Err(e) if is_unique_violation(&e) => Err(AppError::conflict(format!(
                "A user named '{username}' already exists."
            ))),
            Err(e) => Err(Err::<(), _>(e).doing("creating user").unwrap_err().into()),
        }
    }

    async fn update_user(&self, actor: &CurrentUser, update: UserUpdate) -> Result<User, AppError> {
        let mut v = Validator::default();
        let role = v.role("role", &update.role);
        let display_name = v.display_name("display_name", &update.display_name);
        let email = v.email("email", &update.email);
        v.finish()?;
        let role = role.unwrap_or(Role::Viewer);
        let txn = crate::db::begin_write(&self.db).await.doing("accessing users")?;
        let admins = admins_locked(&txn).await.doing("accessing users")?;
        let target = user::Entity::find_by_id(update.id.0)
            .one(&txn)
            .await
            .doing("accessing users")?
            .ok_or_else(|| AppError::not_found(format!("User {}", update.id.0)))?;
        if target.role() == Role::Admin && role != Role::Admin && admins.len() <= 1 {
            return Err(AppError::conflict(
                "This is the last administrator; make another user ADMIN first.",
            ));
        }
        let mut changes = vec![];
        if target.role() != role {
            changes.push(format!("role {} → {role}", target.role()));
        }
        if target.display_name != display_name {
            changes.push("name changed".to_string());
        }
        if target.email != email {
            changes.push("email changed".to_string());
        }
        let mut am: user::ActiveModel = target.into();
        am.display_name = Set(display_name);
        am.email = Set(email);
        am.role = Set(role.to_string());
        am.updated_at = Set(Utc::now());
        let m = am.update(&txn).await.doing("accessing users")?;
        let what = if changes.is_empty() {
            "nothing changed".to_string()
        } else {
            changes.join(", ")
        };
        log_user(
            &txn,
            actor,
            "user.changed",
            &m.username,
            format!("User {} changed: {what}", m.username),
        )
        .await?;
        txn.commit().await.doing("accessing users")?;
        tracing::info!(actor = %actor.username, user = %m.username, role = %m.role, "user updated");
        Ok(m.into())
    }

    async fn delete_user(&self, actor: &CurrentUser, id: UserId) -> Result<(), AppError> {
        let txn = crate::db::begin_write(&self.db).await.doing("accessing users")?;
        let admins = admins_locked(&txn).await.doing("accessing users")?;
        let target = user::Entity::find_by_id(id.0)
            .one(&txn)
            .await
            .doing("accessing users")?
            .ok_or_else(|| AppError::not_found(format!("User {}", id.0)))?;
        if target.role() == Role::Admin && admins.len() <= 1 {
            return Err(AppError::conflict("The last administrator cannot be deleted."));
        }
        // Their API tokens go with them (the foreign key cascades too; this does not rely on it).
        crate::db::entity::api_token::Entity::delete_many()
            .filter(crate::db::entity::api_token::Column::UserId.eq(id.0))
            .exec(&txn)
            .await
            .doing("accessing API tokens")?;
        user::Entity::delete_by_id(id.0)
            .exec(&txn)
            .await
            .doing("accessing users")?;
        let message = format!("User {} deleted", target.username);
        log_user(&txn, actor, "user.deleted", &target.username, message).await?;
        txn.commit().await.doing("accessing users")?;
        tracing::info!(actor = %actor.username, user = %target.username, "user deleted");
        Ok(())
    }

    async fn reset_password(
        &self,
        actor: &CurrentUser,
        id: UserId,
        password: String,
    ) -> Result<(), AppError> {
        let mut v = Validator::default();
        v.password("password", &password);
        v.finish()?;
        let target = self.find(id).await?;
        let name = target.username.clone();
        if target.external_subject.is_some() {
            return Err(AppError::conflict(format!(
                "{name} signs in with single sign-on and has no password here."
            )));
        }
        self.set_password(target, password, true).await?;
        log_user(
            &self.db,
            actor,
            "user.password_reset",
            &name,
            format!("Password of {name} reset"),
        )
        .await?;
        tracing::info!(actor = %actor.username, user = %name, "password reset");
        Ok(())
    }

    async fn change_own_password(
        &self,
        actor: &CurrentUser,
        old_password: String,
        new_password: String,
    ) -> Result<i64, AppError> {
        let mut v = Validator::default();
        if old_password.is_empty() {
            v.fail("old_password", "Enter your current password.");
        } else if old_password.len() > auth::MAX_PASSWORD * 4
            || old_password.chars().count() > auth::MAX_PASSWORD
        {
            v.fail("old_password", "The current password is wrong.");
        }
        v.password("new_password", &new_password);
        v.finish()?;
        // Throttled like a login: a wrong current password is a failure for (user, client).
        let client = app::ssr::client_ip().await;
        let attempt = self.throttle.begin(&actor.username, "", client)?;
        let me = self.find(actor.id).await?;
        if me.external_subject.is_some() {
            return Err(AppError::conflict(
                "You sign in with single sign-on: your password is kept by your identity provider.",
            ));
        }
        if !self.verify(old_password, me.password_hash.clone()).await? {
            attempt.failed();
            tracing::info!(user = %actor.username, ?client, "wrong current password");
            return Err(AppError::invalid(
                "old_password",
                "The current password is wrong.",
            ));
        }
        attempt.succeeded();
        let epoch = self.set_password(me, new_password, false).await?;
        tracing::info!(user = %actor.username, "password changed");
        Ok(epoch)
    }
}

fn is_unique_violation(e: &DbErr) -> bool {
    matches!(e.sql_err(), Some(sea_orm::SqlErr::UniqueConstraintViolation(_)))
}
