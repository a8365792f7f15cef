//! Login, logout, the current user and changing one's own password.

use crate::{error::AppError, model::CurrentUser};
use leptos::prelude::*;
use server_fn::codec::Json;

/// Logs in. Public. Rotates the session id so a session fixed before login is worthless.
#[server(endpoint = "login", input = Json)]
pub async fn login(username: String, password: String) -> Result<CurrentUser, AppError> {
    use crate::ssr::{SESSION_USER, SessionUser, client_ip, session, users};
    if username.trim().is_empty() {
        return Err(AppError::invalid("username", "Enter your username."));
    }
    if password.is_empty() {
        return Err(AppError::invalid("password", "Enter your password."));
    }
    let (user, epoch) = users()?
        .authenticate(username.trim(), &password, client_ip().await)
        .await?;
    let session = session().await?;
    session.cycle_id().await.map_err(session_err)?;
    session
        .insert(SESSION_USER, SessionUser { id: user.id, epoch })
        .await
        .map_err(session_err)?;
    Ok(user)
}

/// What the login page offers, and the message of a single sign-on that just failed (taken out
/// of the session, so it shows once). Public.
#[server(endpoint = "login_options", input = Json)]
pub async fn login_options() -> Result<crate::model::LoginOptions, AppError> {
    use crate::ssr::{SESSION_LOGIN_ERROR, login_methods, session};
    let methods = login_methods()?;
    let error = session()
        .await?
        .remove::<String>(SESSION_LOGIN_ERROR)
        .await
        .map_err(session_err)?;
    Ok(crate::model::LoginOptions {
        single_sign_on: methods.single_sign_on,
        break_glass_only: methods.break_glass_only,
        error,
    })
}

/// Logs out. Public (logging out twice is fine). Deletes the session on the server.
#[server(endpoint = "logout", input = Json)]
pub async fn logout() -> Result<(), AppError> {
    crate::ssr::session().await?.flush().await.map_err(session_err)
}

/// The logged-in user, or `None`. Public.
#[server(endpoint = "get_current_user", input = Json)]
pub async fn get_current_user() -> Result<Option<CurrentUser>, AppError> {
    crate::ssr::current_user().await
}

/// Changes the caller's own password; the old one is required. Other sessions of the user end.
#[server(endpoint = "change_own_password", input = Json)]
pub async fn change_own_password(old_password: String, new_password: String) -> Result<(), AppError> {
    use crate::{
        model::Role,
        ssr::{SESSION_USER, SessionUser, authorize, session, users},
    };
    let me = authorize(Role::Viewer).await?;
    let epoch = users()?
        .change_own_password(&me, old_password, new_password)
        .await?;
    let session = session().await?;
    session.cycle_id().await.map_err(session_err)?;
    session
        .insert(SESSION_USER, SessionUser { id: me.id, epoch })
        .await
        .map_err(session_err)?;
    Ok(())
}

#[cfg(feature = "ssr")]
fn session_err(e: tower_sessions::session::Error) -> AppError {
    tracing::error!(error = %e, "session store failed");
    AppError::Internal {
        reference: "session store".into(),
    }
}
