//! The console's files, inside the binary: the style sheet, the one script, the icon and
//! the world outline. Each is served with a strong ETag (its SHA-256) and linked with that
//! tag in the URL, so a browser keeps it until the binary changes.

use std::sync::OnceLock;

use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

struct Asset {
    name: &'static str,
    content_type: &'static str,
    body: Vec<u8>,
    etag: String,
}

fn all() -> &'static [Asset] {
    static ALL: OnceLock<Vec<Asset>> = OnceLock::new();
    ALL.get_or_init(|| {
        let asset = |name, content_type, body: Vec<u8>| {
            let digest = ring::digest::digest(&ring::digest::SHA256, &body);
            let etag = digest.as_ref()[..12]
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            Asset {
                name,
                content_type,
                body,
                etag,
            }
        };
        vec![
            asset(
                "console.css",
                "text/css; charset=utf-8",
                include_bytes!("../../assets/console/console.css").to_vec(),
            ),
            asset(
                "console.js",
                "text/javascript; charset=utf-8",
                include_bytes!("../../assets/console/console.js").to_vec(),
            ),
            asset(
                "icon.svg",
                "image/svg+xml",
                include_bytes!("../../assets/console/icon.svg").to_vec(),
            ),
            asset(
                "world.svg",
                "image/svg+xml",
                super::map::world_svg().into_bytes(),
            ),
        ]
    })
}

/// The URL of an asset, with its tag (the browser caches per URL).
pub fn url(name: &str) -> String {
    let tag = all()
        .iter()
        .find(|a| a.name == name)
        .map_or("", |a| &a.etag);
    format!("/ui/assets/{name}?v={tag}")
}

/// `GET /ui/assets/{name}`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response {
    let Some(asset) = all().iter().find(|a| a.name == name) else {
        return super::not_found(None, "no such file");
    };
    let etag = format!("\"{}\"", asset.etag);
    let fresh = headers
        .get("if-none-match")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [("content-type", HeaderValue::from_static(asset.content_type))],
            asset.body.clone(),
        )
            .into_response()
    };
    let h = response.headers_mut();
    super::html::secure(h);
    if asset.name == "world.svg" {
        // Shown as an image (scripts never run there); its own style says dark or light.
        h.insert(
            "content-security-policy",
            HeaderValue::from_static("default-src 'none'; style-src 'unsafe-inline'"),
        );
    }
    h.insert("etag", HeaderValue::from_str(&etag).expect("hex"));
    h.insert(
        "cache-control",
        HeaderValue::from_static("public, max-age=86400"),
    );
    response
}
