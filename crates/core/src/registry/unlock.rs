//! Maintainer passwords: which objects one request's passwords unlock.
//!
//! Checking a password is deliberately slow (md5-crypt is 1,000 MD5 rounds, bcrypt costs
//! milliseconds), and an answer of 10,000 objects names the same few maintainers over and
//! over. So a request takes at most [`MAX_PASSWORDS`], each (maintainer, password) pair is
//! checked at most once per request, and the result is kept per generation in
//! [`UnlockCache`] keyed by the password's SHA-256 (never the password). What the request
//! tried is reported back ([`Unlocker::outcome`]) so a front end can count failed guesses.

use std::collections::HashMap;
use std::sync::Mutex;

use super::caches::Digest;
pub use super::caches::{UnlockCache, UNLOCK_CACHE_ENTRIES};
use super::index::{ObjectId, Registry};
use super::view::password_matches;

/// Passwords one request may present (`password=` parameters and Basic credentials
/// together). More is refused: each is checked against every maintainer of the answer.
pub const MAX_PASSWORDS: usize = 4;

/// More passwords than [`MAX_PASSWORDS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TooManyPasswords;

impl std::fmt::Display for TooManyPasswords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Too many passwords: at most {MAX_PASSWORDS} per request")
    }
}

/// What a request's passwords did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnlockOutcome {
    /// No password was given, or none had a maintainer to be checked against.
    NotTried,
    /// At least one maintainer accepted a password.
    Unlocked,
    /// Passwords were checked and no maintainer accepted any: a failed guess.
    Failed,
}

/// One request's passwords and what they unlocked so far.
#[derive(Debug, Default)]
pub struct Unlocker {
    passwords: Vec<(String, Digest)>,
    /// Maintainer -> whether a password matched it, for this request.
    memo: Mutex<HashMap<ObjectId, bool>>,
}

impl Clone for Unlocker {
    fn clone(&self) -> Self {
        Unlocker {
            passwords: self.passwords.clone(),
            memo: Mutex::new(self.memo.lock().unwrap_or_else(|e| e.into_inner()).clone()),
        }
    }
}

impl Unlocker {
    /// The request's passwords, empty ones left out; more than [`MAX_PASSWORDS`] is refused.
    pub fn new(passwords: Vec<String>) -> Result<Unlocker, TooManyPasswords> {
        let passwords: Vec<String> = passwords.into_iter().filter(|p| !p.is_empty()).collect();
        if passwords.len() > MAX_PASSWORDS {
            return Err(TooManyPasswords);
        }
        let passwords = passwords
            .into_iter()
            .map(|p| {
                let d = ring::digest::digest(&ring::digest::SHA256, p.as_bytes());
                let digest: Digest = d.as_ref().try_into().expect("SHA-256 has 32 bytes");
                (p, digest)
            })
            .collect();
        Ok(Unlocker {
            passwords,
            memo: Mutex::default(),
        })
    }

    pub fn is_empty(&self) -> bool {
        self.passwords.is_empty()
    }

    /// Whether a password unlocks object `id`: it matches an MD5-PW, BCRYPT-PW or CRYPT-PW
    /// line of the object itself (a mntner or irt) or of a maintainer in its `mnt-by`.
    pub fn unlocks(&self, registry: &Registry, id: ObjectId) -> bool {
        if self.passwords.is_empty() {
            return false;
        }
        let stored = registry.object(id);
        if matches!(stored.template.class, "mntner" | "irt") && self.holder_accepts(registry, id) {
            return true;
        }
        for value in stored.object.values("mnt-by") {
            for name in value.split(',').map(str::trim) {
                if let Some(m) = registry.get(&stored.source, "mntner", name) {
                    if self.holder_accepts(registry, m) {
                        return true;
                    }
                }
            }
        }
        false
    }

    /// Whether `holder` accepts one of the passwords: once per request, cached per
    /// generation.
    fn holder_accepts(&self, registry: &Registry, holder: ObjectId) -> bool {
        if let Some(&known) = self
            .memo
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(&holder)
        {
            return known;
        }
        let holder_object = registry.object(holder);
        let auths: Vec<&str> = holder_object.object.values("auth").collect();
        let mut accepted = false;
        for (password, digest) in &self.passwords {
            let key = (holder, *digest);
            let matched = match registry.unlock_cache().get(&key) {
                Some(m) => m,
                None => {
                    let m = auths.iter().any(|auth| password_matches(auth, password));
                    registry.unlock_cache().put(key, m);
                    m
                }
            };
            if matched {
                accepted = true;
                break;
            }
        }
        // A maintainer with no password line cannot be guessed against: not a try.
        if auths.iter().any(|a| is_password_auth(a)) || accepted {
            self.memo
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(holder, accepted);
        }
        accepted
    }

    /// What the passwords did over every object asked about so far.
    pub fn outcome(&self) -> UnlockOutcome {
        let memo = self.memo.lock().unwrap_or_else(|e| e.into_inner());
        if memo.values().any(|&m| m) {
            UnlockOutcome::Unlocked
        } else if memo.is_empty() {
            UnlockOutcome::NotTried
        } else {
            UnlockOutcome::Failed
        }
    }
}

fn is_password_auth(auth: &str) -> bool {
    let scheme = auth.split_whitespace().next().unwrap_or("");
    ["MD5-PW", "BCRYPT-PW", "CRYPT-PW"]
        .iter()
        .any(|s| s.eq_ignore_ascii_case(scheme))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn more_than_the_cap_is_refused_and_empty_ones_do_not_count() {
        let four = vec!["a".to_string(); MAX_PASSWORDS];
        assert!(Unlocker::new(four.clone()).is_ok());
        let mut five = four.clone();
        five.push("b".into());
        assert_eq!(Unlocker::new(five).unwrap_err(), TooManyPasswords);
        let mut with_empty = four;
        with_empty.push(String::new());
        assert!(Unlocker::new(with_empty).is_ok());
    }
}
