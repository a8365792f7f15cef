//! The error type every server function returns. It crosses the wire as JSON, so the UI can show
//! a message next to the field or action it concerns; internals never leave the server.

use serde::{Deserialize, Serialize};
use server_fn::{
    codec::JsonEncoding,
    error::{FromServerFnError, ServerFnErrorErr},
};

/// A problem with one input field.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Typed errors of the internal API.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AppError {
    #[error("Please log in first.")]
    Unauthenticated,
    #[error("Not allowed: {reason}")]
    Forbidden { reason: String },
    #[error("{what} not found.")]
    NotFound { what: String },
    #[error("{}", invalid_summary(fields))]
    Invalid { fields: Vec<FieldError> },
    #[error("{message}")]
    Conflict { message: String },
    #[error("Too many failed attempts. Try again in {retry_after_secs} s.")]
    RateLimited { retry_after_secs: u64 },
    #[error("{service} failed: {message}")]
    Upstream { service: String, message: String },
    #[error("Bad request: {message}")]
    BadRequest { message: String },
    #[error("Internal error (reference {reference}). Details are in the server log.")]
    Internal { reference: String },
    #[error("Could not reach the server: {message}")]
    Transport { message: String },
}

fn invalid_summary(fields: &[FieldError]) -> String {
    fields
        .iter()
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect::<Vec<_>>()
        .join("; ")
}

impl AppError {
    /// A single-field validation error.
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        AppError::Invalid {
            fields: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    /// A permission refusal with its reason.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        AppError::Forbidden {
            reason: reason.into(),
        }
    }

    /// A conflict with the current state, e.g. a duplicate name.
    pub fn conflict(message: impl Into<String>) -> Self {
        AppError::Conflict {
            message: message.into(),
        }
    }

    /// Something that does not exist (or that the caller may not know exists).
    pub fn not_found(what: impl Into<String>) -> Self {
        AppError::NotFound { what: what.into() }
    }

    /// The message for `field`, if this is a validation error that names it.
    pub fn field(&self, field: &str) -> Option<String> {
        match self {
            AppError::Invalid { fields } => fields
                .iter()
                .find(|f| f.field == field)
                .map(|f| f.message.clone()),
            _ => None,
        }
    }

    /// The HTTP status the server answers with for this error.
    pub fn status_code(&self) -> u16 {
        match self {
            AppError::Unauthenticated => 401,
            AppError::Forbidden { .. } => 403,
            AppError::NotFound { .. } => 404,
            AppError::Invalid { .. } => 422,
            AppError::Conflict { .. } => 409,
            AppError::RateLimited { .. } => 429,
            AppError::Upstream { .. } => 502,
            AppError::BadRequest { .. } => 400,
            AppError::Internal { .. } => 500,
            AppError::Transport { .. } => 503,
        }
    }
}

impl FromServerFnError for AppError {
    type Encoder = JsonEncoding;

    fn from_server_fn_error(value: ServerFnErrorErr) -> Self {
        match value {
            ServerFnErrorErr::Args(m) | ServerFnErrorErr::MissingArg(m) => {
                AppError::BadRequest { message: m }
            }
            // On the server, failing to decode means the request's arguments were malformed; in
            // the browser it means the response was.
            ServerFnErrorErr::Deserialization(m) if cfg!(feature = "ssr") => {
                AppError::BadRequest { message: m }
            }
            ServerFnErrorErr::Request(m) | ServerFnErrorErr::Deserialization(m) => {
                AppError::Transport { message: m }
            }
            other => AppError::Internal {
                reference: other.to_string(),
            },
        }
    }
}
