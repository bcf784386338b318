//! QRadar's error body: `{"http_response": {code, message}, "code", "message",
//! "description", "details"}` with QRadar's unique codes. Status from `http::error`.

use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::AccessError;
use ipintel_core::ErrorKind;

use crate::http::error::{status_in, Contract};

/// QRadar's unique codes (QRadar's API documentation), plus 1001 for authentication, which the seed does not
/// list.
pub const UNAUTHORIZED: u32 = 1001;
pub const NOT_FOUND: u32 = 1002;
pub const INVALID_IP: u32 = 1005;
pub const INVALID_PARAMETER: u32 = 1010;
pub const INTERNAL: u32 = 1020;

#[derive(Debug)]
pub struct QradarError {
    kind: ErrorKind,
    code: u32,
    message: String,
    description: &'static str,
}

impl QradarError {
    pub fn new(
        kind: ErrorKind,
        code: u32,
        message: impl Into<String>,
        description: &'static str,
    ) -> Self {
        QradarError {
            kind,
            code,
            message: message.into(),
            description,
        }
    }

    pub fn parameter(message: impl Into<String>) -> Self {
        Self::new(
            ErrorKind::InvalidInput,
            INVALID_PARAMETER,
            message,
            "A request parameter is not valid.",
        )
    }

    /// A lookup's failure; `ips` are the addresses asked about (named when none is known).
    pub fn from_lookup(e: ipintel_core::engine::LookupError, ips: &[std::net::IpAddr]) -> Self {
        use ipintel_core::engine::LookupError;
        use ipintel_core::geo::GeoError;
        match e {
            LookupError::Access(e) => Self::from_access(e),
            LookupError::Geo(GeoError::NotFound(_)) => {
                let shown: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
                Self::new(
                    ErrorKind::NotFound,
                    NOT_FOUND,
                    format!("no location data for {}", shown.join(", ")),
                    "The IP address does not exist in the database.",
                )
            }
            LookupError::Geo(GeoError::NoDatabases) => Self::new(
                ErrorKind::Unavailable,
                INTERNAL,
                "no GeoIP database is loaded",
                "The service is unavailable.",
            ),
            LookupError::Geo(e) => {
                tracing::error!(error = %e, "lookup failed");
                Self::internal()
            }
        }
    }

    pub fn from_access(e: AccessError) -> Self {
        let kind = e.kind();
        match e {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => Self::new(
                kind,
                UNAUTHORIZED,
                "invalid SEC token or credentials",
                "The request could not be authenticated.",
            ),
            AccessError::NotPermitted { plan, service } => Self::new(
                kind,
                UNAUTHORIZED,
                format!("the plan {plan} does not include the {service} service"),
                "The request is not allowed for this key.",
            ),
            AccessError::InsufficientFunds | AccessError::QuotaExceeded => Self::new(
                kind,
                UNAUTHORIZED,
                e.to_string(),
                "The key has no queries left.",
            ),
            other => {
                tracing::error!(error = %other, "account check failed");
                Self::internal()
            }
        }
    }

    pub fn internal() -> Self {
        Self::new(
            ErrorKind::Internal,
            INTERNAL,
            "an error occurred while looking up the geodata",
            "Internal error.",
        )
    }
}

impl IntoResponse for QradarError {
    fn into_response(self) -> Response {
        let status = status_in(Contract::Qradar, self.kind);
        let body = serde_json::json!({
            "http_response": {"code": status.as_u16(), "message": status.canonical_reason().unwrap_or("")},
            "code": self.code,
            "message": self.message,
            "description": self.description,
            "details": {},
        });
        (
            status,
            [("content-type", "application/json; charset=utf-8")],
            body.to_string(),
        )
            .into_response()
    }
}

/// A request refused by the HTTP layer (body too large, body budget, timeout, panic).
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    let (code, description) = match kind {
        ErrorKind::TooLarge => (
            INVALID_PARAMETER,
            "The request body is larger than the server accepts.",
        ),
        ErrorKind::TooManyRequests => (
            INTERNAL,
            "This client holds too much of the server's request memory; retry later.",
        ),
        ErrorKind::Unavailable => (
            INTERNAL,
            "The server is too busy or the request took too long; retry later.",
        ),
        _ => (INTERNAL, "Internal error."),
    };
    QradarError::new(kind, code, message, description).into_response()
}
