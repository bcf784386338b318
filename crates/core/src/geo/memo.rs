//! What records and the cache agree on, below both: which record a key names, the byte
//! budget renderings share, and the heap cost estimate both count with.

use std::sync::atomic::{AtomicU64, Ordering};

/// Which record: the databases' data-section offsets that produced it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RecordKey {
    /// The place database's record at this offset.
    Place(u64),
    /// Traits merged from the network databases' records at these offsets (in precedence
    /// order, `u64::MAX` for none) and the place record's traits (last).
    Traits([u64; 5]),
    Anonymity(u64),
    /// The place database's record at this offset, rendered by a dialect's form (`PlaceForm`).
    RenderedPlace(u64, u8),
}

/// The bytes renderings may hold, all records of a set together. Records count their
/// renderings in when they make them and out when they are dropped.
#[derive(Debug)]
pub struct MemoBudget {
    pub(super) capacity: u64,
    pub(super) used: AtomicU64,
}

impl MemoBudget {
    /// Count `n` bytes in, if they fit.
    pub(crate) fn reserve(&self, n: u64) -> bool {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                (used + n <= self.capacity).then_some(used + n)
            })
            .is_ok()
    }

    pub(crate) fn release(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    pub(super) fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

/// What the allocator really hands out for a request of `len` bytes (glibc: the request
/// plus an 8-byte header, in 16-byte steps, 32 at least). Counting only `len` put the real
/// heap at about twice the budget.
pub(crate) fn heap(len: usize) -> u64 {
    if len == 0 {
        0
    } else {
        ((len + 8 + 15) & !15).max(32) as u64
    }
}

/// Heap bytes of a rendering kept in a record.
pub(crate) fn rendering_bytes(len: usize) -> u64 {
    heap(len)
}
