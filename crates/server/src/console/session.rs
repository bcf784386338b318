//! Console sessions: an API key or the admin token exchanged for a random session cookie
//! (HttpOnly, SameSite=Strict, Secure when the server speaks TLS), a CSRF token per
//! session, and the checks every state-changing request passes.
//!
//! Sessions live in this process's memory, within a count limit: a restart signs everyone
//! out, and behind a load balancer a client must stick to one instance (docs/console.md).
//! The key a session signed in with stays in memory only (the engine meters by key), and
//! is checked again on every request, so a revoked key ends its sessions at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::http::HeaderMap;
use ring::rand::{SecureRandom, SystemRandom};

/// The session cookie's name.
pub const COOKIE: &str = "ipintel_console";
/// How long a session lasts from sign-in.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions held at once; a sign-in beyond it first drops expired ones, then is refused.
pub const MAX_SESSIONS: usize = 10_000;

/// Who signed in.
#[derive(Debug, Clone)]
pub enum Principal {
    /// A key holder (the key itself, for the engine's metering).
    Key { key: String, shown: String },
    /// The operator, with the admin token.
    Operator,
}

#[derive(Debug)]
pub struct Session {
    pub principal: Principal,
    /// Sent back in every form; a POST without it is refused.
    pub csrf: String,
    expires: Instant,
}

impl Session {
    pub fn is_operator(&self) -> bool {
        matches!(self.principal, Principal::Operator)
    }

    /// How the header names the signed-in party (a key by its shown prefix only).
    pub fn who(&self) -> String {
        match &self.principal {
            Principal::Key { shown, .. } => format!("key {shown}…"),
            Principal::Operator => "operator".into(),
        }
    }

    pub fn key(&self) -> Option<&str> {
        match &self.principal {
            Principal::Key { key, .. } => Some(key),
            Principal::Operator => None,
        }
    }
}

/// Every live session, by the SHA-256 of its cookie value (a leaked memory dump holds no
/// usable cookie).
#[derive(Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<[u8; 32], Arc<Session>>>,
}

/// 32 random bytes as 64 hex digits.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    SystemRandom::new()
        .fill(&mut bytes)
        .expect("system random source");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn digest(id: &str) -> [u8; 32] {
    ipintel_core::accounts::hash_key(id)
}

impl Sessions {
    /// Start a session; the cookie value to set, or `None` when the table is full.
    pub fn create(&self, principal: Principal) -> Option<String> {
        let now = Instant::now();
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= MAX_SESSIONS {
            map.retain(|_, s| s.expires > now);
            if map.len() >= MAX_SESSIONS {
                return None;
            }
        }
        let id = random_token();
        map.insert(
            digest(&id),
            Arc::new(Session {
                principal,
                csrf: random_token(),
                expires: now + LIFETIME,
            }),
        );
        Some(id)
    }

    /// The live session a request's cookie names.
    pub fn find(&self, headers: &HeaderMap) -> Option<Arc<Session>> {
        let id = cookie(headers)?;
        let key = digest(id);
        let mut map = self.by_id.lock().unwrap_or_else(|e| e.into_inner());
        match map.get(&key) {
            Some(s) if s.expires > Instant::now() => Some(s.clone()),
            Some(_) => {
                map.remove(&key);
                None
            }
            None => None,
        }
    }

    /// End the session a request's cookie names.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            self.by_id
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .remove(&digest(id));
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The session cookie's value, if the request carries one that could be ours.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all("cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
        .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// `Set-Cookie` for a new session (`value`) or to clear it (`None`).
pub fn set_cookie(value: Option<&str>, tls: bool) -> String {
    let secure = if tls { "; Secure" } else { "" };
    match value {
        Some(value) => format!(
            "{COOKIE}={value}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

/// Why a state-changing request is refused before anything changes.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The browser says the request came from another site.
    CrossSite,
    NotSignedIn,
    BadToken,
}

/// Whether a POST comes from one of our own pages: the browser's `Sec-Fetch-Site` and
/// `Origin` (when sent) must name this site. Checked before the session, so a cross-site
/// form is refused even where a browser would send the cookie.
pub fn same_origin(headers: &HeaderMap) -> Result<(), Refusal> {
    if let Some(site) = headers.get("sec-fetch-site").and_then(|v| v.to_str().ok()) {
        if !matches!(site, "same-origin" | "none") {
            return Err(Refusal::CrossSite);
        }
    }
    if let Some(origin) = headers.get("origin") {
        let host = headers.get("host").and_then(|v| v.to_str().ok());
        let origin_host = origin
            .to_str()
            .ok()
            .and_then(|o| o.split_once("://"))
            .map(|(_, rest)| rest);
        if host.is_none() || origin_host != host {
            return Err(Refusal::CrossSite);
        }
    }
    Ok(())
}

/// The checks of a state-changing request: same origin, a live session, its CSRF token.
pub fn check_post(
    sessions: &Sessions,
    headers: &HeaderMap,
    token: Option<&str>,
) -> Result<Arc<Session>, Refusal> {
    same_origin(headers)?;
    let session = sessions.find(headers).ok_or(Refusal::NotSignedIn)?;
    let given = token.unwrap_or("").as_bytes();
    let expected = session.csrf.as_bytes();
    let equal = given.len() == expected.len()
        && given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            == 0;
    if !equal {
        return Err(Refusal::BadToken);
    }
    Ok(session)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, v.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_session_is_found_by_its_cookie_only_and_ends() {
        let sessions = Sessions::default();
        let id = sessions.create(Principal::Operator).unwrap();
        let cookie = format!("other=1; {COOKIE}={id}");
        let h = headers(&[("cookie", &cookie)]);
        let found = sessions.find(&h).unwrap();
        assert!(found.is_operator());
        assert!(sessions
            .find(&headers(&[("cookie", "ipintel_console=00")]))
            .is_none());
        let wrong = format!("{COOKIE}={}", random_token());
        assert!(sessions.find(&headers(&[("cookie", &wrong)])).is_none());
        // The CSRF token must match, and the origin be ours.
        let same = headers(&[
            ("cookie", &cookie),
            ("host", "a:1"),
            ("origin", "http://a:1"),
        ]);
        assert!(check_post(&sessions, &same, Some(&found.csrf)).is_ok());
        assert_eq!(
            check_post(&sessions, &same, Some("x")).unwrap_err(),
            Refusal::BadToken
        );
        let cross = headers(&[
            ("cookie", &cookie),
            ("host", "a:1"),
            ("origin", "http://b:1"),
        ]);
        assert_eq!(
            check_post(&sessions, &cross, Some(&found.csrf)).unwrap_err(),
            Refusal::CrossSite
        );
        let fetch = headers(&[("cookie", &cookie), ("sec-fetch-site", "cross-site")]);
        assert_eq!(
            check_post(&sessions, &fetch, Some(&found.csrf)).unwrap_err(),
            Refusal::CrossSite
        );
        sessions.end(&h);
        assert!(sessions.find(&h).is_none());
        assert_eq!(
            check_post(&sessions, &same, Some(&found.csrf)).unwrap_err(),
            Refusal::NotSignedIn
        );
    }

    #[test]
    fn cookies_are_strict_and_secure_under_tls() {
        let set = set_cookie(Some("ab"), true);
        assert!(
            set.contains("HttpOnly")
                && set.contains("SameSite=Strict")
                && set.ends_with("; Secure")
        );
        assert!(!set_cookie(Some("ab"), false).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
    }
}
