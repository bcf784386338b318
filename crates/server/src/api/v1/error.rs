//! The v1 error body: `{"error": {"code": "...", "message": "..."}}`.

use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::AccessError;
use ipintel_core::ErrorKind;

#[derive(Debug)]
pub struct V1Error {
    kind: ErrorKind,
    code: &'static str,
    message: String,
}

impl V1Error {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        V1Error {
            kind,
            code,
            message: message.into(),
        }
    }

    pub fn parameter(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidInput, "invalid_parameter", message)
    }

    pub fn from_lookup(e: ipintel_core::engine::LookupError) -> Self {
        use ipintel_core::engine::LookupError;
        match e {
            LookupError::Access(e) => Self::from_access(e),
            LookupError::Geo(ipintel_core::geo::GeoError::NoDatabases) => Self::new(
                ErrorKind::Unavailable,
                "unavailable",
                "no GeoIP database is loaded",
            ),
            LookupError::Geo(e) => {
                tracing::error!(error = %e, "lookup failed");
                Self::new(ErrorKind::Internal, "internal", "internal error")
            }
        }
    }

    pub fn from_access(e: AccessError) -> Self {
        let kind = e.kind();
        let code = match &e {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => "unauthorized",
            AccessError::NotPermitted { .. } => "plan_lacks_service",
            AccessError::InsufficientFunds => "insufficient_credits",
            AccessError::QuotaExceeded => "daily_quota_exceeded",
            _ => {
                tracing::error!(error = %e, "account check failed");
                return Self::new(ErrorKind::Internal, "internal", "internal error");
            }
        };
        Self::new(kind, code, e.to_string())
    }
}

impl IntoResponse for V1Error {
    fn into_response(self) -> Response {
        let body =
            serde_json::json!({"error": {"code": self.code, "message": self.message}}).to_string();
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
        ErrorKind::TooLarge => "body_too_large",
        ErrorKind::TooManyRequests => "too_many_requests",
        ErrorKind::Unavailable => "unavailable",
        _ => "internal",
    };
    V1Error::new(kind, code, message).into_response()
}
