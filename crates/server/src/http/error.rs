//! The one place where engine error kinds become HTTP statuses. Dialects shape the body.

use axum::http::StatusCode;
use ipintel_core::ErrorKind;

/// Dialects whose contract fixes a status that differs from the default.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Contract {
    /// Every dialect without deviations.
    Standard,
    /// QRadar answers invalid input with 422 Unprocessable Entity (QRadar's API documentation).
    Qradar,
    /// WhoisXML's bulk API answers an id that is not the caller's with 422 (WhoisXML's bulk API documentation).
    WhoisXml,
}

/// Status for a kind of failure: the default, and the deviations a dialect's contract
/// documents, here in one table.
///
/// `PermissionDenied` is 402, not 403: a plan without a service is fixed by paying for a
/// bigger plan, and MaxMind's clients expect 402 for `PERMISSION_REQUIRED`.
pub fn status_in(contract: Contract, kind: ErrorKind) -> StatusCode {
    match (contract, kind) {
        (Contract::Qradar, ErrorKind::InvalidInput | ErrorKind::MissingInput) => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        (Contract::WhoisXml, ErrorKind::NotFound) => StatusCode::UNPROCESSABLE_ENTITY,
        (_, kind) => status(kind),
    }
}

/// The default status for a kind of failure.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput | ErrorKind::MissingInput | ErrorKind::Reserved => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Forbidden => StatusCode::FORBIDDEN,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied | ErrorKind::InsufficientFunds | ErrorKind::QuotaExceeded => {
            StatusCode::PAYMENT_REQUIRED
        }
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        ErrorKind::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
        ErrorKind::UnsupportedFormat => StatusCode::UNSUPPORTED_MEDIA_TYPE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
