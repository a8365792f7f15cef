//! Errors on their way out of the server: an internal failure is logged with a short reference,
//! and only the reference reaches the user.

use app::error::AppError;

/// Logs an internal error with a short reference and returns only the reference to the caller.
pub fn internal(context: &str, err: impl std::fmt::Display) -> AppError {
    let reference = format!("{:08x}", rand::random::<u32>());
    tracing::error!(%reference, error = %err, "{context}");
    AppError::Internal { reference }
}
