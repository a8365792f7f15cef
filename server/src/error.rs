//! Errors on their way out of the server. A failure of something the server depends on (the
//! database, the cluster, encoding, secrets, a task) is a [`ServerError`] carrying what the
//! server was doing and where; one `From` turns it into the user's [`AppError`]: an internal
//! failure is logged with a short reference and only the reference reaches the user, a cluster
//! refusal is logged and shown with the API's own message. Every one is counted by source in
//! `oneko_internal_errors_total`.

use std::{error::Error as StdError, panic::Location};

use app::error::AppError;

type Source = Box<dyn StdError + Send + Sync + 'static>;

/// A failure of a dependency, with what the server was doing when it failed.
#[derive(Debug)]
pub struct ServerError {
    doing: &'static str,
    at: &'static Location<'static>,
    source: Source,
}

impl ServerError {
    /// Which dependency failed, for logs and metrics.
    pub fn source_kind(&self) -> &'static str {
        let s = self.source.as_ref();
        if s.is::<sea_orm::DbErr>() {
            "database"
        } else if s.is::<kube::Error>() {
            "cluster"
        } else if s.is::<serde_json::Error>() {
            "encoding"
        } else if s.is::<tokio::task::JoinError>() {
            "task"
        } else {
            "other"
        }
    }
}

impl std::fmt::Display for ServerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.doing, self.source)
    }
}

impl StdError for ServerError {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(self.source.as_ref())
    }
}

/// `result.doing("saving version")?`: a failed dependency becomes a [`ServerError`] that says
/// what was being done, and `?` turns it into an [`AppError`].
pub trait Doing<T> {
    fn doing(self, what: &'static str) -> Result<T, ServerError>;
}

impl<T, E: Into<Source>> Doing<T> for Result<T, E> {
    #[track_caller]
    fn doing(self, what: &'static str) -> Result<T, ServerError> {
        let at = Location::caller();
        self.map_err(|e| ServerError {
            doing: what,
            at,
            source: e.into(),
        })
    }
}

impl From<ServerError> for AppError {
    fn from(e: ServerError) -> Self {
        let kind = e.source_kind();
        crate::metrics::global().inc("oneko_internal_errors_total", vec![("source", kind.into())]);
        let reference = format!("{:08x}", rand::random::<u32>());
        let at = format!("{}:{}", e.at.file(), e.at.line());
        if let Some(k) = e.source.downcast_ref::<kube::Error>() {
            tracing::warn!(%reference, %at, error = %k, "{}", e.doing);
            return AppError::Upstream {
                service: "Kubernetes".into(),
                message: kube_message(k),
            };
        }
        tracing::error!(%reference, %at, source = kind, error = %e.source, "{}", e.doing);
        AppError::Internal { reference }
    }
}

/// Logs an internal error with a short reference and returns only the reference to the caller;
/// for failures that are not a dependency's error value.
#[track_caller]
pub fn internal(context: &'static str, err: impl std::fmt::Display) -> AppError {
    Err::<(), _>(err.to_string()).doing(context).unwrap_err().into()
}

/// The cluster's refusal as the API server worded it, or why it could not be reached.
pub fn kube_message(e: &kube::Error) -> String {
    match e {
        kube::Error::Api(s) => format!("{} ({} {})", s.message, s.code, s.reason),
        other => format!("the cluster could not be reached: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_database_failure_reaches_the_user_as_a_reference_only() {
        let failed: Result<(), _> = Err(sea_orm::DbErr::Custom("disk I/O error at /var/x".into()));
        let e = failed.doing("saving version").unwrap_err();
        assert_eq!(e.source_kind(), "database");
        assert!(e.at.file().ends_with("error.rs"), "{}", e.at.file());
        assert_eq!(
            e.to_string(),
            "saving version: Custom Error: disk I/O error at /var/x"
        );
        let AppError::Internal { reference } = AppError::from(e) else {
            panic!("not internal");
        };
        assert_eq!(reference.len(), 8);
        let shown = AppError::Internal { reference }.to_string();
        assert!(!shown.contains("/var/x"), "{shown}");
        let metrics = crate::metrics::global().render(&[]);
        assert!(
            metrics.contains("oneko_internal_errors_total{source=\"database\"}"),
            "{metrics}"
        );
    }

    #[test]
    fn a_cluster_refusal_is_shown_in_the_api_servers_words() {
        let status =
            kube::core::Status::failure("namespaces \"on-x\" is forbidden", "Forbidden").with_code(403);
        let failed: Result<(), _> = Err(kube::Error::Api(Box::new(status)));
        let e = failed.doing("creating namespace").unwrap_err();
        assert_eq!(e.source_kind(), "cluster");
        match AppError::from(e) {
            AppError::Upstream { service, message } => {
                assert_eq!(service, "Kubernetes");
                assert_eq!(message, "namespaces \"on-x\" is forbidden (403 Forbidden)");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn other_sources_are_told_apart() {
        let json = serde_json::from_str::<u8>("x").doing("decoding").unwrap_err();
        assert_eq!(json.source_kind(), "encoding");
        let text = Err::<(), _>("broken".to_string()).doing("x").unwrap_err();
        assert_eq!(text.source_kind(), "other");
    }
}
