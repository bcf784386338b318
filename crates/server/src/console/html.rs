//! HTML by hand: escaping, the page frame every console page shares, and the headers every
//! console response carries. No template engine: pages are small and the escaping rule is
//! one function, [`esc`], applied to every value that did not come from this module.

use std::fmt::Write;

use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::assets;
use super::session::Session;

/// The Content-Security-Policy of every page: our own scripts, styles and images only, no
/// inline script or style, forms post only here, no framing.
pub const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
     connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// `text` with `&`, `<`, `>`, `"` and `'` escaped: safe in element content and in quoted
/// attribute values.
pub fn esc(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A path segment for a link (`/ui/set/AS-FOO:AS-BAR`): everything but unreserved
/// characters and `:` percent-encoded, then HTML-escaped by the caller's `esc` if needed.
pub fn seg(text: &str) -> String {
    const SET: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~')
        .remove(b':');
    percent_encoding::utf8_percent_encode(text, SET).to_string()
}

/// One page being written: the frame around `body`.
pub struct Page {
    pub title: String,
    pub body: String,
    /// Reload the page every this many seconds (a task or bulk request still running),
    /// for browsers without JavaScript (inside `<noscript>` when the page also polls).
    pub refresh: Option<(u32, bool)>,
}

impl Page {
    pub fn new(title: impl Into<String>) -> Page {
        Page {
            title: title.into(),
            body: String::new(),
            refresh: None,
        }
    }

    /// Append raw HTML (the caller escaped every value in it).
    pub fn push(&mut self, html: &str) -> &mut Page {
        self.body.push_str(html);
        self
    }

    pub fn render(&self, session: Option<&Session>) -> String {
        let mut out = String::with_capacity(self.body.len() + 2048);
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
             <meta name=\"color-scheme\" content=\"light dark\">\
             <title>{title} · ipintel</title>\
             <link rel=\"icon\" href=\"{icon}\" type=\"image/svg+xml\">\
             <link rel=\"stylesheet\" href=\"{css}\">\
             <script src=\"{js}\" defer></script>",
            title = esc(&self.title),
            icon = assets::url("icon.svg"),
            css = assets::url("console.css"),
            js = assets::url("console.js"),
        );
        if let Some((seconds, scripted)) = self.refresh {
            let meta = format!("<meta http-equiv=\"refresh\" content=\"{seconds}\">");
            if scripted {
                let _ = write!(out, "<noscript>{meta}</noscript>");
            } else {
                out.push_str(&meta);
            }
        }
        out.push_str("</head><body><a class=\"skip\" href=\"#main\">Skip to content</a><header><nav aria-label=\"Main\">");
        out.push_str("<a class=\"brand\" href=\"/ui/\">ipintel</a>");
        if let Some(session) = session {
            if session.is_operator() {
                out.push_str("<a href=\"/ui/admin\">Operator</a>");
            } else {
                out.push_str("<a href=\"/ui/bulk\">Bulk</a><a href=\"/ui/account\">Account</a>");
            }
            let _ = write!(
                out,
                "<form class=\"search\" method=\"get\" action=\"/ui/search\" role=\"search\">\
                 <label class=\"visually-hidden\" for=\"nav-q\">Address, prefix, AS or name</label>\
                 <input id=\"nav-q\" name=\"q\" placeholder=\"IP, prefix, AS, set or host\" autocomplete=\"off\">\
                 <button>Look up</button></form>\
                 <form method=\"post\" action=\"/ui/logout\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">\
                 <button class=\"link\">Sign out ({who})</button></form>",
                csrf = esc(&session.csrf),
                who = esc(&session.who()),
            );
        } else {
            out.push_str("<a href=\"/ui/login\">Sign in</a>");
        }
        let _ = writeln!(
            out,
            "</nav></header><main id=\"main\"><h1>{}</h1>{}</main><footer>ipintel {} · <a href=\"/openapi.json\">API</a></footer></body></html>",
            esc(&self.title),
            self.body,
            env!("CARGO_PKG_VERSION")
        );
        out
    }
}

/// A complete HTML answer with the console's security headers.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut response = (status, html).into_response();
    let headers = response.headers_mut();
    headers.insert(
        "content-type",
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    secure(headers);
    headers.insert("cache-control", HeaderValue::from_static("no-store"));
    response
}

/// The headers every console answer carries, pages and assets alike.
pub fn secure(headers: &mut axum::http::HeaderMap) {
    headers.insert("content-security-policy", HeaderValue::from_static(CSP));
    headers.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    headers.insert("x-frame-options", HeaderValue::from_static("DENY"));
    headers.insert("referrer-policy", HeaderValue::from_static("same-origin"));
}

/// A definition list row, only when there is a value.
pub fn row(out: &mut String, label: &str, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        let _ = write!(out, "<dt>{}</dt><dd>{}</dd>", esc(label), value);
    }
}

/// A block of text to copy, with a button the script wires up.
pub fn copyable(out: &mut String, id: &str, label: &str, text: &str) {
    let _ = write!(
        out,
        "<div class=\"copy\"><span class=\"copy-label\">{label}</span><pre id=\"{id}\"><code>{text}</code></pre>\
         <button type=\"button\" class=\"copy-button\" data-copy=\"{id}\" hidden>Copy</button></div>",
        label = esc(label),
        id = esc(id),
        text = esc(text),
    );
}

/// Unix seconds as `2026-12-04 05:06 UTC`.
pub fn time(unix: i64) -> String {
    jiff::Timestamp::from_second(unix)
        .map(|t| t.strftime("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|_| unix.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escaping_covers_markup_and_quotes() {
        assert_eq!(
            esc("<a href=\"x\" onclick='y'>&</a>"),
            "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
        assert_eq!(seg("AS-FOO:AS-BAR/x y"), "AS-FOO:AS-BAR%2Fx%20y");
    }
}
