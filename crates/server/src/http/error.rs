//! The one place where engine error kinds become HTTP statuses. Dialects shape the body.

use axum::http::StatusCode;
use ipintel_core::ErrorKind;

/// Status for a kind of failure, the same in every dialect.
///
/// `PermissionDenied` is 402, not 403: a plan without a service is fixed by paying for a
/// bigger plan, and MaxMind's clients expect 402 for `PERMISSION_REQUIRED`.
pub fn status(kind: ErrorKind) -> StatusCode {
    match kind {
        ErrorKind::InvalidInput | ErrorKind::MissingInput | ErrorKind::Reserved => {
            StatusCode::BAD_REQUEST
        }
        ErrorKind::NotFound => StatusCode::NOT_FOUND,
        ErrorKind::Unauthenticated => StatusCode::UNAUTHORIZED,
        ErrorKind::PermissionDenied | ErrorKind::InsufficientFunds | ErrorKind::QuotaExceeded => {
            StatusCode::PAYMENT_REQUIRED
        }
        ErrorKind::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
        ErrorKind::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}
