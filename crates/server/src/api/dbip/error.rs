//! DB-IP's error body, `{"error": "...", "errorCode": "..."}`. Status from `http::error`.

use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::AccessError;
use ipintel_core::ErrorKind;

#[derive(Debug)]
pub struct DbipError {
    kind: ErrorKind,
    code: &'static str,
    message: String,
}

impl DbipError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        DbipError {
            kind,
            code,
            message: message.into(),
        }
    }

    pub fn invalid_address(what: &str) -> Self {
        let shown: String = what.chars().take(100).collect();
        Self::new(
            ErrorKind::InvalidInput,
            "INVALID_ADDRESS",
            format!("invalid address: {shown}"),
        )
    }

    pub fn from_lookup(e: ipintel_core::engine::LookupError) -> Self {
        use ipintel_core::engine::LookupError;
        match e {
            LookupError::Access(e) => Self::from_access(e),
            LookupError::Geo(ipintel_core::geo::GeoError::NoDatabases) => Self::new(
                ErrorKind::Unavailable,
                "UNAVAILABLE",
                "no GeoIP database is loaded",
            ),
            LookupError::Geo(e) => {
                tracing::error!(error = %e, "lookup failed");
                Self::new(
                    ErrorKind::Internal,
                    "UNAVAILABLE",
                    "service temporarily unavailable",
                )
            }
        }
    }

    pub fn from_access(e: AccessError) -> Self {
        let kind = e.kind();
        match e {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => {
                Self::new(kind, "INVALID_KEY", "invalid API key")
            }
            AccessError::NotPermitted { plan, .. } => Self::new(
                kind,
                "INVALID_KEY",
                format!("this key's plan ({plan}) does not include the DB-IP API"),
            ),
            AccessError::InsufficientFunds => {
                Self::new(kind, "OVER_QUERY_LIMIT", "no credits left for this key")
            }
            AccessError::QuotaExceeded => {
                Self::new(kind, "OVER_QUERY_LIMIT", "daily query limit exceeded")
            }
            other => {
                tracing::error!(error = %other, "account check failed");
                Self::new(
                    ErrorKind::Internal,
                    "UNAVAILABLE",
                    "service temporarily unavailable",
                )
            }
        }
    }
}

impl IntoResponse for DbipError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": self.message, "errorCode": self.code }).to_string();
        (
            crate::http::error::status(self.kind),
            [("content-type", "application/json; charset=utf-8")],
            body,
        )
            .into_response()
    }
}

/// A request refused by the HTTP layer (body too large, body budget, timeout, panic).
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    let code = match kind {
        ErrorKind::TooLarge => "REQUEST_TOO_LARGE",
        ErrorKind::TooManyRequests => "TOO_MANY_REQUESTS",
        ErrorKind::Unavailable => "UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    DbipError::new(kind, code, message).into_response()
}
