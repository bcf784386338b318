//! The RIPE REST error documents: `errormessages` with `severity`, `text` (a printf-style
//! template) and `args`, plus a locator of the request, in the format the client asked for
//! (plain text only when text was asked for). The status comes from the error kind.

use axum::response::{IntoResponse, Response};
use ipintel_core::ErrorKind;

use super::doc::Node;
use super::params::Format;

/// One message of RIPE's catalogue.
#[derive(Debug, Clone)]
pub struct Message {
    pub severity: &'static str,
    pub text: String,
    pub args: Vec<String>,
}

impl Message {
    pub fn error(text: impl Into<String>) -> Message {
        Message {
            severity: "Error",
            text: text.into(),
            args: Vec::new(),
        }
    }

    pub fn with_args(text: impl Into<String>, args: Vec<String>) -> Message {
        Message {
            severity: "Error",
            text: text.into(),
            args,
        }
    }

    pub fn node(&self) -> Node<'static> {
        let mut members = vec![
            ("severity", Node::str(self.severity)),
            ("text", Node::str(self.text.clone())),
        ];
        if !self.args.is_empty() {
            members.push((
                "args",
                Node::List(
                    self.args
                        .iter()
                        .map(|a| Node::obj(vec![("value", Node::str(a.clone()))]))
                        .collect(),
                ),
            ));
        }
        Node::obj(members)
    }
}

/// ERROR:101.
pub fn no_entries(sources: &[String]) -> Message {
    let (text, arg) = ipintel_core::registry::query::no_entries_text(sources);
    Message::with_args(format!("{text}\n"), arg.into_iter().collect())
}

#[derive(Debug)]
pub struct RipeError {
    pub kind: ErrorKind,
    pub message: Message,
    pub format: Format,
    /// The request's locator (passwords stripped).
    pub link: String,
    pub terms: String,
}

impl IntoResponse for RipeError {
    fn into_response(self) -> Response {
        let status = crate::http::error::status(self.kind);
        let body = match self.format {
            Format::Text => {
                let mut text = format!(
                    "{}\nSeverity: {}\nText: {}\n",
                    self.link, self.message.severity, self.message.text
                );
                if !self.message.args.is_empty() {
                    text.push_str(&format!("[{}]\n", self.message.args.join(", ")));
                }
                text.push_str(&self.terms);
                text.push('\n');
                text.into_bytes()
            }
            format => {
                let doc = Node::obj(vec![
                    ("link", Node::Locator(self.link)),
                    (
                        "errormessages",
                        Node::wrap("errormessage", vec![self.message.node()]),
                    ),
                    ("terms-and-conditions", Node::Locator(self.terms)),
                ]);
                if format == Format::Json {
                    doc.json()
                } else {
                    doc.xml("whois-resources")
                }
            }
        };
        (status, [("content-type", self.format.content_type())], body).into_response()
    }
}

/// A failure the HTTP layer answers itself (timeout, panic) on a RIPE path.
pub fn refusal(kind: ErrorKind, message: String) -> Response {
    RipeError {
        kind,
        message: Message::error(message),
        format: Format::Xml,
        link: String::new(),
        terms: String::new(),
    }
    .into_response()
}
