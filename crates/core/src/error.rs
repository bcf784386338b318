//! Transport-neutral error kinds.
//!
//! Every engine error answers `kind()`. Front ends map a kind to a status in exactly one
//! place (the server's `http::error` module) and shape the body in their own dialect; the
//! engine never knows about HTTP.

/// What went wrong, in terms a front end can act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The caller's input is malformed (an address, a parameter).
    InvalidInput,
    /// A required input is absent.
    MissingInput,
    /// The address is in a reserved or private range.
    Reserved,
    /// Nothing is known about the thing asked for.
    NotFound,
    /// No credentials, or credentials that match no live key.
    Unauthenticated,
    /// The key is valid but its plan does not include the service.
    PermissionDenied,
    /// Refused whoever asks, for where the request came from (a form posted from another
    /// site) or who signed in (a key holder on the operator's pages).
    Forbidden,
    /// The account has no credit left.
    InsufficientFunds,
    /// The account's daily quota is used up.
    QuotaExceeded,
    /// A configured resource (database, store) cannot serve right now, or the server as a
    /// whole is too busy (body memory budget, a request past its time).
    Unavailable,
    /// The request is larger than a documented limit allows.
    TooLarge,
    /// This client holds more than its share (of body memory, connections); it may retry.
    TooManyRequests,
    /// The answer cannot be given in any format the client accepts.
    UnsupportedFormat,
    /// A bug or an I/O failure on our side.
    Internal,
}
