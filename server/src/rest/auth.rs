//! Who calls the REST API: the owner of the bearer token, with the token's (capped) role. The
//! API reads no session cookie, so a browser page of another site cannot use a user's login.

use super::{RestState, error::ApiError};
use app::model::{CurrentUser, Role};
use axum::{extract::FromRequestParts, http::header, http::request::Parts};

/// The authenticated caller.
pub struct Caller(pub CurrentUser);

impl Caller {
    /// The caller, if their role is at least `min` (the same rule as the UI's).
    pub fn with(&self, min: Role) -> Result<&CurrentUser, ApiError> {
        self.0.require(min)?;
        Ok(&self.0)
    }
}

impl FromRequestParts<RestState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &RestState) -> Result<Self, Self::Rejection> {
        let Some(value) = parts.headers.get(header::AUTHORIZATION) else {
            return Err(ApiError::unauthenticated(
                "Send an API token: Authorization: Bearer onk_… (create one on your account page).",
            ));
        };
        let token = value
            .to_str()
            .ok()
            .and_then(|v| v.strip_prefix("Bearer ").or_else(|| v.strip_prefix("bearer ")))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthenticated("Use the Bearer scheme: Authorization: Bearer onk_…"))?;
        match state.tokens.verify(token).await? {
            Ok(user) => Ok(Caller(user)),
            Err(refusal) => Err(ApiError::unauthenticated(refusal.message())),
        }
    }
}
