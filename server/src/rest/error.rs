//! Errors of the REST API: JSON with the same kinds as the internal API's `AppError`, and a
//! `message` in words. Malformed paths, queries and bodies are `bad_request` errors too, never
//! axum's plain-text rejections.

use app::error::AppError;
use axum::{
    extract::rejection::{JsonRejection, PathRejection, QueryRejection},
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

/// An error answer.
#[derive(Debug)]
pub struct ApiError {
    error: AppError,
    /// Replaces the error's own message (e.g. why a token was refused).
    message: Option<String>,
}

impl ApiError {
    /// `unauthenticated`, with the reason.
    pub fn unauthenticated(message: impl Into<String>) -> Self {
        ApiError {
            error: AppError::Unauthenticated,
            message: Some(message.into()),
        }
    }

    fn bad_request(message: String) -> Self {
        AppError::BadRequest { message }.into()
    }
}

impl From<AppError> for ApiError {
    fn from(error: AppError) -> Self {
        ApiError { error, message: None }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.status_code()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut body =
            serde_json::to_value(&self.error).unwrap_or_else(|_| serde_json::json!({"kind": "internal"}));
        body["message"] = self.message.unwrap_or_else(|| self.error.to_string()).into();
        crate::metrics::global().inc(
            "oneko_rest_errors_total",
            vec![("kind", body["kind"].as_str().unwrap_or("unknown").to_owned())],
        );
        let mut res = (status, axum::Json(body)).into_response();
        if status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"O-Neko\""),
            );
        }
        res
    }
}
