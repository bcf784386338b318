//! The bulk API's error body: `{"response":{"error":"..."}}`, or `{"response":{"errors":
//! [...]}}` when a request has several problems (WhoisXML's bulk API documentation). XML when the request asked for
//! XML; JSON otherwise (an error is not a table, so CSV requests get JSON errors too).

use axum::response::{IntoResponse, Response};
use ipintel_core::accounts::AccessError;
use ipintel_core::ErrorKind;
use serde_json::json;

use crate::bulk::writers::Format;
use crate::http::error::{status_in, Contract};

#[derive(Debug)]
pub struct BulkError {
    kind: ErrorKind,
    messages: Vec<String>,
    format: Format,
}

pub const AUTH_FAILED: &str = "Authorisation or authentication failed";
pub const WRONG_ID: &str = "Wrong request id";

impl BulkError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        BulkError {
            kind,
            messages: vec![message.into()],
            format: Format::Json,
        }
    }

    /// 400 with every problem found.
    pub fn invalid(messages: Vec<String>) -> Self {
        BulkError {
            kind: ErrorKind::InvalidInput,
            messages,
            format: Format::Json,
        }
    }

    pub fn internal(what: &str, e: impl std::fmt::Display) -> Self {
        tracing::error!(error = %e, "{what}");
        Self::new(
            ErrorKind::Internal,
            "Internal server error, please contact the operator",
        )
    }

    /// A store failure: 503 when the store cannot take writes now (a full disk, a busy
    /// lock), so a client retries; anything else is a 500.
    pub fn from_store(what: &str, e: ipintel_core::store::StoreError) -> Self {
        if e.kind() == ErrorKind::Unavailable {
            tracing::warn!(error = %e, "{what}");
            return Self::new(
                ErrorKind::Unavailable,
                "The request store cannot take writes now; try again later",
            );
        }
        Self::internal(what, e)
    }

    pub fn from_access(e: AccessError) -> Self {
        let message = match &e {
            AccessError::UnknownKey | AccessError::WrongAccount(_) => AUTH_FAILED.to_owned(),
            AccessError::InsufficientFunds => "Insufficient balance".to_owned(),
            AccessError::QuotaExceeded => {
                "Insufficient balance: the daily query quota cannot cover this request".to_owned()
            }
            AccessError::NotPermitted { plan, .. } => {
                format!("Insufficient balance: the {plan} plan does not include bulk requests")
            }
            _ => return Self::internal("account check failed", e),
        };
        Self::new(e.kind(), message)
    }

    /// Render in `format` (the request's, once it is known).
    pub fn in_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }
}

impl IntoResponse for BulkError {
    fn into_response(self) -> Response {
        let inner = if self.messages.len() == 1 && self.kind != ErrorKind::InvalidInput {
            json!({"error": self.messages[0]})
        } else {
            json!({"errors": self.messages})
        };
        let status = status_in(Contract::WhoisXml, self.kind);
        match self.format {
            Format::Xml => (
                status,
                [("content-type", Format::Xml.content_type())],
                crate::render::xml::to_xml("response", &inner),
            )
                .into_response(),
            _ => (
                status,
                [("content-type", Format::Json.content_type())],
                json!({ "response": inner }).to_string(),
            )
                .into_response(),
        }
    }
}

/// A request refused by the HTTP layer (body budget, timeout, panic).
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    BulkError::new(kind, message).into_response()
}
