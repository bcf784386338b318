//! MaxMind's error body and its codes. The status comes from `http::error::status`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::AccessError;
use ipintel_core::geo::GeoError;
use ipintel_core::ErrorKind;

pub const ERROR_CONTENT_TYPE: &str =
    "application/vnd.maxmind.com-error+json; charset=UTF-8; version=2.0";

#[derive(Debug)]
pub enum MaxMindError {
    /// A documented code with a human message.
    Coded {
        kind: ErrorKind,
        code: &'static str,
        message: String,
    },
    /// Content negotiation failures carry no body (MaxMind's web-service documentation).
    Bare(StatusCode),
}

impl MaxMindError {
    pub fn new(kind: ErrorKind, code: &'static str, message: impl Into<String>) -> Self {
        MaxMindError::Coded {
            kind,
            code,
            message: message.into(),
        }
    }

    pub fn from_access(e: AccessError) -> Self {
        let kind = e.kind();
        match e {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => Self::new(
                kind,
                "AUTHORIZATION_INVALID",
                "You have supplied an invalid MaxMind account ID and/or license key in the Authorization header.",
            ),
            AccessError::NotPermitted { service, .. } => Self::new(
                kind,
                "PERMISSION_REQUIRED",
                format!("You do not have permission to use the {service} service. Ask your ipintel operator for a plan that includes it."),
            ),
            AccessError::InsufficientFunds => Self::new(
                kind,
                "INSUFFICIENT_FUNDS",
                "The license key you have provided does not have sufficient funds to use this service.",
            ),
            AccessError::QuotaExceeded => Self::new(
                kind,
                "OUT_OF_QUERIES",
                "The license key you have provided has used its daily query quota.",
            ),
            other => {
                tracing::error!(error = %other, "account check failed");
                Self::new(ErrorKind::Internal, "INTERNAL_ERROR", "An internal error occurred; try again later.")
            }
        }
    }

    pub fn from_lookup(e: ipintel_core::engine::LookupError) -> Self {
        match e {
            ipintel_core::engine::LookupError::Access(e) => Self::from_access(e),
            ipintel_core::engine::LookupError::Geo(e) => Self::from_geo(e),
        }
    }

    pub fn from_geo(e: GeoError) -> Self {
        let kind = e.kind();
        match e {
            GeoError::Reserved(ip) => Self::new(
                kind,
                "IP_ADDRESS_RESERVED",
                format!(
                    "The IP address '{ip}' is a reserved IP address (private, multicast, etc.)."
                ),
            ),
            GeoError::NotFound(ip) => Self::new(
                kind,
                "IP_ADDRESS_NOT_FOUND",
                format!("The address {ip} is not in the database."),
            ),
            GeoError::NoDatabases => {
                Self::new(kind, "SERVICE_UNAVAILABLE", "No GeoIP database is loaded.")
            }
            other => {
                tracing::error!(error = %other, "lookup failed");
                Self::new(
                    ErrorKind::Internal,
                    "INTERNAL_ERROR",
                    "An internal error occurred; try again later.",
                )
            }
        }
    }
}

impl IntoResponse for MaxMindError {
    fn into_response(self) -> Response {
        match self {
            MaxMindError::Bare(status) => status.into_response(),
            MaxMindError::Coded {
                kind,
                code,
                message,
            } => {
                let body = serde_json::json!({ "code": code, "error": message }).to_string();
                (
                    crate::http::error::status(kind),
                    [("content-type", ERROR_CONTENT_TYPE)],
                    body,
                )
                    .into_response()
            }
        }
    }
}

/// A request refused by the HTTP layer (body budget, timeout, panic). An over-long body is
/// answered before this, with MaxMind's documented bare 403.
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    let code = match kind {
        ErrorKind::TooLarge => "REQUEST_TOO_LARGE",
        ErrorKind::TooManyRequests => "TOO_MANY_REQUESTS",
        ErrorKind::Unavailable => "SERVICE_UNAVAILABLE",
        _ => "INTERNAL_ERROR",
    };
    MaxMindError::new(kind, code, message).into_response()
}
