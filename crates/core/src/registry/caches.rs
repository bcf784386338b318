//! The caches a registry generation holds, below the index and the use cases that fill
//! them: objects parsed from the registry file (`index.rs`), recursive set answers
//! (`sets.rs`), each within a byte budget, and checked maintainer passwords (`unlock.rs`).
//! Gone with their generation, so nothing stale is ever served.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// An object of the generation (`index::ObjectId`; named here as what it is, so this leaf
/// imports nothing of the index that holds it).
type ObjectId = u32;

/// Most bytes the answers cached in one generation may hold (names and prefixes, plus a
/// fixed cost per entry). A set whose answer is larger than a quarter of it is computed
/// each time instead.
pub const SET_CACHE_BYTES: usize = 64 << 20;

/// Most bytes the parsed objects cached in one generation may hold (estimated heap bytes:
/// about three times an object's text). The registry file holds every object; this keeps
/// the ones queries read again and again (maintainers, persons, popular sets) parsed.
pub const OBJECT_CACHE_BYTES: u64 = 32 << 20;

/// Objects parsed from the registry file, by id: quick_cache's S3-FIFO (one sweep over
/// many objects, such as an inverse query, does not push the hot ones out), weighted by
/// an estimate of each object's heap bytes.
pub struct ObjectCache<T> {
    cache: quick_cache::sync::Cache<ObjectId, Arc<T>, ByWeight<T>>,
}

/// How much of the budget an object takes: given by its parser.
pub struct ByWeight<T>(fn(&T) -> u64);

impl<T> Clone for ByWeight<T> {
    fn clone(&self) -> Self {
        ByWeight(self.0)
    }
}

impl<T> quick_cache::Weighter<ObjectId, Arc<T>> for ByWeight<T> {
    fn weight(&self, _: &ObjectId, value: &Arc<T>) -> u64 {
        (self.0)(value).max(1)
    }
}

impl<T> ObjectCache<T> {
    /// A cache of `bytes`, each object weighing `weight(object)`.
    pub fn new(bytes: u64, weight: fn(&T) -> u64) -> ObjectCache<T> {
        ObjectCache {
            cache: quick_cache::sync::Cache::with_weighter(
                (bytes / 1024).max(16) as usize,
                bytes.max(1),
                ByWeight(weight),
            ),
        }
    }

    /// The cached object `id`, or `parse()` it and keep it.
    pub fn get_or(&self, id: ObjectId, parse: impl FnOnce() -> T) -> Arc<T> {
        if let Some(hit) = self.cache.get(&id) {
            return hit;
        }
        let object = Arc::new(parse());
        self.cache.insert(id, object.clone());
        object
    }

    /// Objects held now.
    pub fn len(&self) -> usize {
        self.cache.len()
    }

    pub fn is_empty(&self) -> bool {
        self.cache.is_empty()
    }

    /// Estimated bytes held now.
    pub fn weight(&self) -> u64 {
        self.cache.weight()
    }
}

/// A password's SHA-256.
pub(super) type Digest = [u8; 32];
/// A list of set members or prefixes, shared between requests: the items separated by
/// single spaces (no item holds one), which is also how IRR clients read them, so an
/// answer of 100,000 prefixes is sent without being put together again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing(Arc<str>);

impl Listing {
    pub(super) fn of<S: AsRef<str>>(items: impl IntoIterator<Item = S>) -> Listing {
        let mut text = String::new();
        for item in items {
            if !text.is_empty() {
                text.push(' ');
            }
            text.push_str(item.as_ref());
        }
        Listing(text.into())
    }

    /// The items, space-separated (empty when there are none).
    pub fn text(&self) -> &Arc<str> {
        &self.0
    }

    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split(' ').filter(|s| !s.is_empty())
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }
}

/// Recursive set answers of one generation, within [`SET_CACHE_BYTES`].
#[derive(Default)]
pub struct SetCache {
    inner: Mutex<CacheInner>,
}

#[derive(Default)]
struct CacheInner {
    map: HashMap<Box<str>, Listing>,
    bytes: usize,
}

impl std::fmt::Debug for SetCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        f.debug_struct("SetCache")
            .field("entries", &inner.map.len())
            .field("bytes", &inner.bytes)
            .finish()
    }
}

/// Fixed cost of one cache entry besides its strings (key, map slot, `Arc` header).
const ENTRY_OVERHEAD: usize = 96;

fn listing_bytes(key: &str, listing: &Listing) -> usize {
    ENTRY_OVERHEAD + key.len() + listing.0.len()
}

impl SetCache {
    pub(super) fn get_or(
        &self,
        key: String,
        compute: impl FnOnce() -> Option<Listing>,
    ) -> Option<Listing> {
        if let Some(hit) = self
            .inner
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .map
            .get(key.as_str())
        {
            return Some(hit.clone());
        }
        // Computed outside the lock: two requests for the same new set may both compute
        // it, and neither waits on the other's expansion.
        let listing = compute()?;
        let size = listing_bytes(&key, &listing);
        if size <= SET_CACHE_BYTES / 4 {
            let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
            while inner.bytes + size > SET_CACHE_BYTES {
                // Any entry goes: the hash order is as good as random, and a set asked
                // for again is recomputed in milliseconds.
                let Some(victim) = inner.map.keys().next().cloned() else {
                    break;
                };
                if let Some(old) = inner.map.remove(&victim) {
                    inner.bytes -= listing_bytes(&victim, &old);
                }
            }
            if inner
                .map
                .insert(key.clone().into(), listing.clone())
                .is_none()
            {
                inner.bytes += size;
            }
        }
        Some(listing)
    }

    /// Entries and bytes held.
    pub fn usage(&self) -> (usize, usize) {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (inner.map.len(), inner.bytes)
    }
}

/// (maintainer, password digest) results one generation keeps. Full, it starts afresh:
/// a result costs one more check to learn again.
pub const UNLOCK_CACHE_ENTRIES: usize = 65_536;

/// Checked (maintainer, password) pairs of one generation.
#[derive(Default)]
pub struct UnlockCache {
    map: Mutex<HashMap<(ObjectId, Digest), bool>>,
}

impl std::fmt::Debug for UnlockCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.map.lock().map(|m| m.len()).unwrap_or(0);
        f.debug_struct("UnlockCache").field("entries", &n).finish()
    }
}

impl UnlockCache {
    /// (maintainer, password) results held.
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(super) fn get(&self, key: &(ObjectId, Digest)) -> Option<bool> {
        self.map
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(key)
            .copied()
    }

    pub(super) fn put(&self, key: (ObjectId, Digest), matched: bool) {
        let mut map = self.map.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= UNLOCK_CACHE_ENTRIES {
            map.clear();
        }
        map.insert(key, matched);
    }
}
