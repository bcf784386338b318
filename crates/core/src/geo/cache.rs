//! Decoded records and their rendered forms, within a byte budget (`geo.cache_mb`).
//!
//! Many addresses share one record, so a lookup decodes a record once and each dialect
//! renders it once per form (a memo); both stay here while they are used. The cache is
//! quick_cache's (S3-FIFO: scan resistant, so one sweep over many cold addresses does not
//! push the hot set out), weighted by an estimate of each entry's heap bytes. A record in use
//! by a request is an `Arc`, so eviction never pulls one from under a renderer.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use quick_cache::sync::Cache;
use quick_cache::Weighter;

use super::memo::{heap, MemoBudget, RecordKey};
use super::raw;
use super::record::{
    AnonymityRecord, Names, NetworkTraits, PlaceRecord, PlaceRenderer, Record, RenderedPlace,
};
use super::rendering::{Rendering, Sink};

type Key = RecordKey;

#[derive(Clone)]
enum Entry {
    Place(Arc<Record<PlaceRecord>>),
    Traits(Arc<Record<NetworkTraits>>),
    Anonymity(Arc<Record<AnonymityRecord>>),
    RenderedPlace(Arc<RenderedPlace>),
}

/// What one entry costs in the cache's own table: key, value and the slot's bookkeeping.
const ENTRY_OVERHEAD: u64 = 96;

#[derive(Clone)]
struct ByHeapBytes;

impl Weighter<Key, Entry> for ByHeapBytes {
    fn weight(&self, _: &Key, entry: &Entry) -> u64 {
        ENTRY_OVERHEAD
            + match entry {
                Entry::Place(r) => r.weight,
                Entry::Traits(r) => r.weight,
                Entry::Anonymity(r) => r.weight,
                Entry::RenderedPlace(r) => r.weight,
            }
    }
}

/// Counters for logs, metrics and benchmarks.
#[derive(Debug, Clone, Copy, Default)]
pub struct CacheStats {
    pub entries: usize,
    /// Estimated bytes held: decoded records, and renderings.
    pub bytes: u64,
    pub rendered_bytes: u64,
    pub capacity_bytes: u64,
    pub hits: u64,
    pub misses: u64,
    /// Of `bytes`: renderings of values records share (`SharedRenderings`).
    pub shared_bytes: u64,
}

/// A counter every thread bumps without sharing a cache line with the others: one shared
/// atomic, bumped on every lookup, bounced between the cores and cost more than the probe.
struct Striped([Padded; 16]);

#[repr(align(128))]
#[derive(Default)]
struct Padded(AtomicU64);

impl Striped {
    fn new() -> Striped {
        Striped(Default::default())
    }

    fn add(&self, n: u64) {
        thread_local! {
            static STRIPE: usize = {
                static NEXT: AtomicU64 = AtomicU64::new(0);
                NEXT.fetch_add(1, Ordering::Relaxed) as usize % 16
            };
        }
        let stripe = STRIPE.with(|s| *s);
        self.0[stripe].0.fetch_add(n, Ordering::Relaxed);
    }

    fn sum(&self) -> u64 {
        self.0.iter().map(|p| p.0.load(Ordering::Relaxed)).sum()
    }
}

/// The cache of one database set (offsets mean nothing in another set's files).
pub struct RecordCache {
    cache: Cache<Key, Entry, ByHeapBytes>,
    rendered: Arc<MemoBudget>,
    pub(super) shared: SharedRenderings,
    capacity: u64,
    hits: Striped,
    misses: Striped,
}

impl RecordCache {
    /// A cache of `capacity_bytes` in all: nine sixteenths for records (decoded, or
    /// rendered from the database), six for the renderings of decoded records (a City
    /// record decodes to ~1.5 KB and renders to ~1 KB a form), one for renderings of shared
    /// values.
    pub fn new(capacity_bytes: u64) -> RecordCache {
        let for_records = capacity_bytes / 16 * 9;
        let for_shared = capacity_bytes / 16;
        let estimated_items = (for_records / 1536).clamp(16, 1 << 22) as usize;
        RecordCache {
            cache: Cache::with_weighter(estimated_items, for_records.max(1), ByHeapBytes),
            rendered: Arc::new(MemoBudget {
                capacity: capacity_bytes - for_records - for_shared,
                used: AtomicU64::new(0),
            }),
            shared: SharedRenderings::new(for_shared),
            capacity: capacity_bytes,
            hits: Striped::new(),
            misses: Striped::new(),
        }
    }

    pub fn stats(&self) -> CacheStats {
        CacheStats {
            entries: self.cache.len(),
            bytes: self.cache.weight() + self.rendered.used() + self.shared.cache.weight(),
            rendered_bytes: self.rendered.used(),
            shared_bytes: self.shared.cache.weight(),
            capacity_bytes: self.capacity,
            hits: self.hits.sum(),
            misses: self.misses.sum(),
        }
    }

    fn get_or_insert<E>(
        &self,
        key: Key,
        make: impl FnOnce() -> Result<Entry, E>,
    ) -> Result<Entry, E> {
        if let Some(entry) = self.cache.get(&key) {
            self.hits.add(1);
            return Ok(entry);
        }
        self.misses.add(1);
        // Two threads may decode the same record at once; either result is right (decoding
        // is pure), and the cache keeps one.
        let entry = make()?;
        self.cache.insert(key, entry.clone());
        Ok(entry)
    }

    pub fn place<E>(
        &self,
        key: RecordKey,
        decode: impl FnOnce() -> Result<PlaceRecord, E>,
    ) -> Result<Arc<Record<PlaceRecord>>, E> {
        let make = || {
            decode().map(|data| {
                let weight = place_bytes(&data);
                Entry::Place(Arc::new(Record::new(
                    key,
                    data,
                    weight,
                    self.rendered.clone(),
                )))
            })
        };
        match self.get_or_insert(key, make)? {
            Entry::Place(record) => Ok(record),
            _ => unreachable!("a place key holds a place record"),
        }
    }

    pub fn traits<E>(
        &self,
        key: RecordKey,
        merge: impl FnOnce() -> Result<NetworkTraits, E>,
    ) -> Result<Arc<Record<NetworkTraits>>, E> {
        let make = || {
            merge().map(|data| {
                let weight = traits_bytes(&data);
                Entry::Traits(Arc::new(Record::new(
                    key,
                    data,
                    weight,
                    self.rendered.clone(),
                )))
            })
        };
        match self.get_or_insert(key, make)? {
            Entry::Traits(record) => Ok(record),
            _ => unreachable!("a traits key holds a traits record"),
        }
    }

    pub fn anonymity<E>(
        &self,
        key: RecordKey,
        decode: impl FnOnce() -> Result<AnonymityRecord, E>,
    ) -> Result<Arc<Record<AnonymityRecord>>, E> {
        let make = || {
            decode().map(|data| {
                let weight = anonymity_bytes(&data);
                Entry::Anonymity(Arc::new(Record::new(
                    key,
                    data,
                    weight,
                    self.rendered.clone(),
                )))
            })
        };
        match self.get_or_insert(key, make)? {
            Entry::Anonymity(record) => Ok(record),
            _ => unreachable!("an anonymity key holds an anonymity record"),
        }
    }

    /// The place record at `key` as `renderer` renders it; `node` reads the record on a miss,
    /// `traits` decodes its own traits.
    pub fn rendered_place<'a>(
        &self,
        key: RecordKey,
        renderer: PlaceRenderer,
        node: impl FnOnce() -> Result<raw::Node<'a>, super::GeoError>,
        traits: impl FnOnce() -> Result<Option<NetworkTraits>, super::GeoError>,
        raw_error: impl FnOnce(raw::Error) -> super::GeoError,
    ) -> Result<Arc<RenderedPlace>, super::GeoError> {
        let make = || {
            let node = node()?;
            let rendering = with_scratch(|out| (renderer.render)(node, out, &self.shared))
                .map_err(raw_error)?;
            let traits = traits()?.filter(|t| !t.is_empty()).map(Box::new);
            let weight = heap(std::mem::size_of::<RenderedPlace>() + 16)
                + rendering.heap_parts().into_iter().map(heap).sum::<u64>()
                + traits.as_ref().map_or(0, |t| {
                    heap(std::mem::size_of::<NetworkTraits>()) + traits_heap(t)
                });
            Ok(Entry::RenderedPlace(Arc::new(RenderedPlace {
                key,
                rendering,
                traits,
                weight,
            })))
        };
        match self.get_or_insert(key, make)? {
            Entry::RenderedPlace(record) => Ok(record),
            _ => unreachable!("a rendered place key holds a rendered place"),
        }
    }
}

/// Renders into this thread's scratch sink, then copies once at the exact size: a miss
/// pays one allocation, not a growing buffer's reallocations and a shrink.
fn with_scratch<E>(render: impl FnOnce(&mut Sink) -> Result<(), E>) -> Result<Rendering, E> {
    thread_local! {
        static SCRATCH: std::cell::RefCell<Sink> = std::cell::RefCell::new(Sink::default());
    }
    SCRATCH.with_borrow_mut(|scratch| {
        scratch.clear();
        let rendered = render(scratch).map(|()| scratch.finish());
        // A rare huge record does not pin its size in every thread.
        if scratch.capacity() > 64 * 1024 {
            *scratch = Sink::default();
        }
        rendered
    })
}

#[derive(Clone)]
struct ByLen;

impl Weighter<(u8, usize), Arc<[u8]>> for ByLen {
    fn weight(&self, _: &(u8, usize), bytes: &Arc<[u8]>) -> u64 {
        ENTRY_OVERHEAD + heap(bytes.len() + 16)
    }
}

/// How a record's rendering keeps a shared value's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// Copied in: values that are small or seldom shared (a location, a names map).
    Copy,
    /// By reference, counted where it is cached: values few enough that every one may stay
    /// alive while records refer to it (continents, countries, subdivisions: bounded by the
    /// database, a few MB at most, whether or not the cache still holds them).
    Shared,
    /// By reference, counted in full by every record that keeps it: values that can be as
    /// many as records (cities), so the budget bounds them; records that share one share
    /// its memory.
    Counted,
}

/// Renderings of values the database stores once for many records (a country, a city, a
/// names map), by (the renderer's own kind number, the value's offset), within a budget.
/// A renderer reaching a shared value (`raw::Node::shared`) copies its rendering from here
/// instead of walking it again.
pub struct SharedRenderings {
    cache: Cache<(u8, usize), Arc<[u8]>, ByLen>,
}

impl SharedRenderings {
    fn new(capacity_bytes: u64) -> SharedRenderings {
        SharedRenderings {
            cache: Cache::with_weighter(
                (capacity_bytes / 512).clamp(16, 1 << 20) as usize,
                capacity_bytes.max(1),
                ByLen,
            ),
        }
    }

    /// Append the rendering of the value at `at` in `kind`, made by `render` the first
    /// time, kept in the record's rendering as `keep` says.
    pub fn append(
        &self,
        kind: u8,
        at: usize,
        keep: Keep,
        out: &mut Sink,
        render: impl FnOnce(&mut Sink) -> Result<(), raw::Error>,
    ) -> Result<(), raw::Error> {
        let part = self.get_or_render(kind, at, render)?;
        match keep {
            Keep::Copy => out.extend_from_slice(&part),
            Keep::Shared => out.refer(part),
            Keep::Counted => out.refer_counted(part),
        }
        Ok(())
    }

    fn get_or_render(
        &self,
        kind: u8,
        at: usize,
        render: impl FnOnce(&mut Sink) -> Result<(), raw::Error>,
    ) -> Result<Arc<[u8]>, raw::Error> {
        if let Some(part) = self.cache.get(&(kind, at)) {
            return Ok(part);
        }
        let mut fresh = Sink::default();
        render(&mut fresh)?;
        let part: Arc<[u8]> = fresh.to_vec().into();
        self.cache.insert((kind, at), part.clone());
        Ok(part)
    }
}

fn opt_len(s: &Option<Box<str>>) -> u64 {
    s.as_ref().map_or(0, |s| heap(s.len()))
}

/// Heap bytes of a locale map: its text and its offsets.
fn names_bytes(names: &Names) -> u64 {
    names.heap_parts().into_iter().map(heap).sum()
}

/// The cached record itself: the `Arc` allocation holding it (memo slots included).
fn record_bytes<T>() -> u64 {
    heap(std::mem::size_of::<Record<T>>() + 16)
}

fn traits_heap(t: &NetworkTraits) -> u64 {
    opt_len(&t.autonomous_system_organization)
        + opt_len(&t.isp)
        + opt_len(&t.organization)
        + opt_len(&t.connection_type)
        + opt_len(&t.domain)
        + opt_len(&t.mobile_country_code)
        + opt_len(&t.mobile_network_code)
        + opt_len(&t.user_type)
}

fn traits_bytes(t: &NetworkTraits) -> u64 {
    record_bytes::<NetworkTraits>() + traits_heap(t)
}

fn anonymity_bytes(a: &AnonymityRecord) -> u64 {
    record_bytes::<AnonymityRecord>() + opt_len(&a.network_last_seen) + opt_len(&a.provider_name)
}

fn place_bytes(p: &PlaceRecord) -> u64 {
    let country = |c: &Option<super::record::Country>| {
        c.as_ref().map_or(0, |c| {
            names_bytes(&c.names) + opt_len(&c.iso_code) + opt_len(&c.representation)
        })
    };
    record_bytes::<PlaceRecord>()
        + p.continent
            .as_ref()
            .map_or(0, |c| names_bytes(&c.names) + opt_len(&c.code))
        + country(&p.country)
        + country(&p.registered_country)
        + country(&p.represented_country)
        + p.city.as_ref().map_or(0, |c| names_bytes(&c.names))
        + p.location.as_ref().map_or(0, |l| opt_len(&l.time_zone))
        + p.postal.as_ref().map_or(0, |c| opt_len(&c.code))
        + heap(p.subdivisions.capacity() * std::mem::size_of::<super::record::Subdivision>())
        + p.subdivisions
            .iter()
            .map(|s| names_bytes(&s.names) + opt_len(&s.iso_code))
            .sum::<u64>()
        + traits_heap(&p.traits)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_budget_holds_and_hot_records_stay() {
        let cache = RecordCache::new(64 * 1024);
        let record = |n: u64| {
            Ok::<_, ()>(PlaceRecord {
                city: Some(super::super::record::City {
                    names: [("en", format!("city number {n}").repeat(20))]
                        .into_iter()
                        .collect(),
                    ..Default::default()
                }),
                ..Default::default()
            })
        };
        // One hot record asked for between every cold one.
        for n in 0..5_000u64 {
            cache.place(RecordKey::Place(0), || record(0)).unwrap();
            let cold = cache
                .place(RecordKey::Place(n + 1), || record(n + 1))
                .unwrap();
            cold.memo(super::super::record::MemoSlot(1), |_| vec![b'x'; 300]);
        }
        let stats = cache.stats();
        assert!(stats.bytes <= 64 * 1024, "{stats:?}");
        assert!(
            stats.rendered_bytes > 0 && stats.rendered_bytes <= 24 * 1024,
            "{stats:?}"
        );
        assert!(stats.entries > 10, "{stats:?}");
        let misses = stats.misses;
        cache
            .place(RecordKey::Place(0), || -> Result<PlaceRecord, ()> {
                panic!("the hot record was evicted")
            })
            .unwrap();
        assert_eq!(cache.stats().misses, misses);
    }
}
