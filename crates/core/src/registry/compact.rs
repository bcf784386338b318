//! The registry file: one generation's objects and every index, in a layout that is read in
//! place from a memory map (no per-key allocation, nothing rebuilt when a server starts).
//!
//! Layout, little-endian, every section aligned to 16 bytes:
//!
//! ```text
//! header (64 bytes)   magic, format version, section count, store generation, fingerprint of
//!                     the store's sources, file length, checksum of header and table
//! table               (offset, length) of each section, u64 each
//! sections            texts first (streamed while building), then the indexes
//! footer (8 bytes)    written last: a file cut short has none
//! ```
//!
//! Objects are numbered in the order they were added. Each has a fixed entry (text and key
//! spans, source and class numbers, a route's origin); texts are stored once, as the store
//! holds them. Lookup keys, name words and inverse values are sorted distinct strings, each
//! with a sorted list of object ids; the primary index is the ids sorted by (source, class,
//! canonical key); routes by origin and aut-nums by number are sorted arrays; address and
//! AS ranges are [`RangeIndexBuf`]'s three arrays. Lookups are binary searches.
//!
//! A file is written under a temporary name and renamed into place, never changed after:
//! readers of an older generation keep their mapping while a newer file replaces it.

use std::io::{Seek, SeekFrom, Write};
use std::ops::Range;

use super::admit::{Admitted, RangeKind};
use super::key::Family;
use super::ranges::{RangeIndexBuf, Span};
use super::rpsl::RpslObject;

/// `IPIREG` and the layout's major number.
pub const MAGIC: [u8; 8] = *b"IPIREG\x00\x01";
/// Written after everything else.
pub const FOOTER: [u8; 8] = *b"IPIREGOK";
/// Bumped whenever the layout or what a section means changes: a file of another version
/// is rebuilt, never read.
pub const VERSION: u32 = 2;
pub const HEADER_LEN: usize = 64;
const ALIGN: u64 = 16;

/// Section numbers.
pub mod section {
    pub const SOURCES: usize = 0;
    pub const CLASSES: usize = 1;
    pub const COUNTS: usize = 2;
    pub const OBJECTS: usize = 3;
    pub const TEXTS: usize = 4;
    pub const KEYS: usize = 5;
    pub const PRIMARY: usize = 6;
    pub const PRIMARY_KEYS: usize = 7;
    /// Three each: entries, key bytes, ids.
    pub const LOOKUP: usize = 8;
    pub const WORDS: usize = 11;
    pub const INVERSE: usize = 14;
    /// Three per range index (bounds, links, ids), in [`super::RANGE_INDEXES`] order.
    pub const RANGES: usize = 17;
    pub const ORIGINS: usize = 32;
    pub const ROUTE_PREFIXES: usize = 33;
    pub const AUT_NUMS: usize = 34;
    pub const COUNT: usize = 35;
}

/// The range indexes a file holds, in order; the as-block index is last (`None`).
pub const RANGE_INDEXES: [Option<(Family, RangeKind)>; 5] = [
    Some((Family::V4, RangeKind::Network)),
    Some((Family::V6, RangeKind::Network)),
    Some((Family::V4, RangeKind::Route)),
    Some((Family::V6, RangeKind::Route)),
    None,
];

/// u32 values per object entry: text offset (low, high), text length, key offset, key
/// length, source | class << 16, origin, flags.
pub const OBJECT_WORDS: usize = 8;
/// Flag: the object has an origin (routes) or a number (aut-nums) in word 6.
pub const HAS_ASN: u32 = 1;
/// u32 values per primary entry: canonical key offset, length, object id.
pub const PRIMARY_WORDS: usize = 3;
/// u32 values per string-map entry: key offset, key length, ids offset, ids length.
pub const MAP_WORDS: usize = 4;
/// u32 values per origin entry: origin, object id, source, IPv6 (0 or 1), prefix offset,
/// prefix length.
pub const ORIGIN_WORDS: usize = 6;

/// The first 8 bytes of the SHA-256 of `parts` one after another: the checksum of header
/// and table, and the sources' fingerprint (ring's digest, as `store::text_digest`).
pub fn digest64(parts: &[&[u8]]) -> u64 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(part);
    }
    let digest = context.finish();
    u64::from_le_bytes(
        digest.as_ref()[..8]
            .try_into()
            .expect("SHA-256 has 32 bytes"),
    )
}

/// Distinct strings with the ids of the objects that have them, built in id order. Keys
/// sit end to end in one buffer (no allocation per key), found through a hash table of
/// their numbers; the buffer becomes the file's key section as it is.
#[derive(Default)]
struct Postings {
    arena: Vec<u8>,
    /// Key number -> (offset, length) in `arena`.
    spans: Vec<(u32, u32)>,
    table: hashbrown::HashTable<u32>,
    /// (key number, object id), in the order seen: ids ascend within a key.
    pairs: Vec<(u32, u32)>,
    /// The keys outgrew the u32 offsets of one file.
    full: bool,
}

impl Postings {
    fn key(&self, n: u32) -> &[u8] {
        let (at, len) = self.spans[n as usize];
        &self.arena[at as usize..(at + len) as usize]
    }

    /// Add `key` (whose [`key_hash`] is `hash`) for object `id`.
    fn add(&mut self, key: &str, hash: u64, id: u32) {
        let found = {
            let (arena, spans) = (&self.arena, &self.spans);
            self.table
                .find(hash, |&n| {
                    let (at, len) = spans[n as usize];
                    &arena[at as usize..(at + len) as usize] == key.as_bytes()
                })
                .copied()
        };
        let number = match found {
            Some(n) => n,
            None => {
                if self.arena.len() + key.len() > u32::MAX as usize {
                    self.full = true;
                    return;
                }
                let n = self.spans.len() as u32;
                self.spans.push((self.arena.len() as u32, key.len() as u32));
                self.arena.extend_from_slice(key.as_bytes());
                let (arena, spans) = (&self.arena, &self.spans);
                self.table.insert_unique(hash, n, |&m| {
                    let (at, len) = spans[m as usize];
                    key_hash(&arena[at as usize..(at + len) as usize])
                });
                n
            }
        };
        if self.pairs.last() != Some(&(number, id)) {
            self.pairs.push((number, id));
        }
    }

    /// Write the map as sections `first` (entries, in key byte order), `first + 1` (key
    /// bytes) and `first + 2` (ids). Entries are streamed, not held.
    fn finish<W: Write>(mut self, sink: &mut Sink<'_, W>, first: usize) -> std::io::Result<()> {
        if self.full || self.pairs.len() > u32::MAX as usize {
            return Err(std::io::Error::other(
                "an index's keys exceed 4 GiB in one registry file",
            ));
        }
        self.table = hashbrown::HashTable::new();
        let mut order: Vec<u32> = (0..self.spans.len() as u32).collect();
        order.sort_unstable_by(|&a, &b| self.key(a).cmp(self.key(b)));
        let mut rank = vec![0u32; order.len()];
        for (position, &n) in order.iter().enumerate() {
            rank[n as usize] = position as u32;
        }
        let mut pairs = std::mem::take(&mut self.pairs);
        for pair in &mut pairs {
            pair.0 = rank[pair.0 as usize];
        }
        drop(rank);
        pairs.sort_unstable();
        pairs.dedup();
        // Entries: (key offset, key length, first id, id count), in key order.
        sink.begin(first)?;
        let mut out = std::io::BufWriter::with_capacity(1 << 16, &mut *sink.out);
        let mut next = 0;
        for (position, &n) in order.iter().enumerate() {
            let from = next;
            while next < pairs.len() && pairs[next].0 == position as u32 {
                next += 1;
            }
            let (at, len) = self.spans[n as usize];
            out.write_all(bytemuck::cast_slice(&[
                at,
                len,
                from as u32,
                (next - from) as u32,
            ]))?;
        }
        out.flush()?;
        drop(out);
        sink.end(first, (order.len() * MAP_WORDS * 4) as u64);
        drop(order);
        self.spans = Vec::new();
        sink.put(first + 1, &std::mem::take(&mut self.arena))?;
        let ids: Vec<u32> = pairs.iter().map(|&(_, id)| id).collect();
        drop(pairs);
        sink.put(first + 2, bytemuck::cast_slice(&ids))
    }
}

/// The hash the builder's key tables use: one process-wide state, so that keys are hashed
/// on the preparing threads and only looked up by the builder.
fn key_hash(key: &[u8]) -> u64 {
    use std::hash::BuildHasher;
    static STATE: std::sync::OnceLock<hashbrown::DefaultHashBuilder> = std::sync::OnceLock::new();
    STATE.get_or_init(Default::default).hash_one(key)
}

/// A range index's items while a build runs: IPv4 and AS ranges fit 32-bit bounds (12
/// bytes an item instead of 48); wider ones are kept whole.
#[derive(Default)]
struct Ranges {
    narrow: Vec<[u32; 3]>,
    wide: Vec<(Span, u32)>,
}

impl Ranges {
    fn push(&mut self, span: Span, id: u32) {
        match (u32::try_from(span.start), u32::try_from(span.end)) {
            (Ok(start), Ok(end)) => self.narrow.push([start, end, id]),
            _ => self.wide.push((span, id)),
        }
    }

    fn into_items(self) -> impl Iterator<Item = (Span, u32)> {
        self.narrow
            .into_iter()
            .map(|[start, end, id]| {
                (
                    Span {
                        start: start as u128,
                        end: end as u128,
                    },
                    id,
                )
            })
            .chain(self.wide)
    }
}

/// Which string map an index key goes to.
#[derive(Debug, Clone, Copy)]
pub enum Map {
    Lookup,
    Word,
    Inverse,
}

/// An object with its index entries worked out: the part of adding an object that needs
/// no builder, so it runs on every core while the builder takes objects in order. Keys sit
/// end to end in one string (two allocations an object, not one per key).
#[derive(Debug)]
pub struct Prepared {
    facts: Admitted,
    text: Box<str>,
    /// A route's prefix as set answers carry it (canonical, however it was written).
    route_prefix: Option<String>,
    keys: String,
    /// (map, end of the key in `keys`, its [`key_hash`]), in order.
    ends: Vec<(Map, u32, u64)>,
}

impl Prepared {
    pub fn of(facts: Admitted, object: RpslObject) -> Prepared {
        let route_prefix = match facts.range {
            Some((family, span, RangeKind::Route)) => Some(
                super::key::format_prefix(family, span)
                    .unwrap_or_else(|| object.first_value().to_ascii_lowercase()),
            ),
            _ => None,
        };
        let kind = facts.template.class;
        let mut keys = String::with_capacity(256);
        let mut ends = Vec::with_capacity(16);
        // Keys are lower case: ASCII (nearly every value) is lowered in place as it is
        // copied; other text goes through `str::to_lowercase` whole, as Unicode asks.
        let mut push = |map: Map, prefix: Option<&str>, key: &str, keys: &mut String| {
            let start = keys.len();
            if let Some(prefix) = prefix {
                keys.push_str(prefix);
                keys.push('\0');
            }
            let from = keys.len();
            keys.push_str(key);
            if key.is_ascii() {
                keys[from..].make_ascii_lowercase();
            }
            ends.push((map, keys.len() as u32, key_hash(&keys.as_bytes()[start..])));
        };
        for attribute in object.attributes() {
            let Some(spec) = facts.template.attribute(attribute.name) else {
                continue;
            };
            if !(spec.lookup || spec.inverse) || attribute.value.is_empty() {
                continue;
            }
            let lowered;
            let value = if attribute.value.is_ascii() {
                attribute.value
            } else {
                lowered = attribute.value.to_lowercase();
                &lowered
            };
            if spec.lookup {
                let words = matches!(
                    (kind, spec.name),
                    ("person", "person") | ("role", "role") | ("organisation", "org-name")
                );
                if words {
                    for word in value.split_whitespace() {
                        push(Map::Word, None, word, &mut keys);
                    }
                } else {
                    push(Map::Lookup, None, value, &mut keys);
                }
            }
            if spec.inverse {
                // Lists (`mnt-by: A, B`) are indexed item by item, under the attribute.
                for item in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    push(Map::Inverse, Some(spec.name), item, &mut keys);
                }
            }
        }
        Prepared {
            facts,
            text: object.text,
            route_prefix,
            keys,
            ends,
        }
    }

    /// The index keys with their hashes, in order.
    fn keys(&self) -> impl Iterator<Item = (Map, &str, u64)> + '_ {
        let mut from = 0usize;
        self.ends.iter().map(move |&(map, end, hash)| {
            let start = from;
            from = end as usize;
            (map, &self.keys[start..end as usize], hash)
        })
    }
}

/// Bytes a build keeps until [`Builder::finish`]: in memory, or (for builds of real
/// size) in a file that is unlinked as soon as it is made, so that nothing outlives the
/// build and the page cache, not the heap, holds them.
enum Staging {
    Memory(Vec<u8>),
    File(std::io::BufWriter<std::fs::File>, u64),
}

impl Staging {
    fn file(dir: &std::path::Path, name: &str) -> std::io::Result<Staging> {
        let (path, file) = crate::create_scratch_file(dir, name, "staging")?;
        std::fs::remove_file(&path)?;
        Ok(Staging::File(
            std::io::BufWriter::with_capacity(1 << 20, file),
            0,
        ))
    }

    fn len(&self) -> u64 {
        match self {
            Staging::Memory(bytes) => bytes.len() as u64,
            Staging::File(_, len) => *len,
        }
    }

    fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Staging::Memory(held) => held.extend_from_slice(bytes),
            Staging::File(out, len) => {
                out.write_all(bytes)?;
                *len += bytes.len() as u64;
            }
        }
        Ok(())
    }

    fn write_words(&mut self, words: &[u32]) -> std::io::Result<()> {
        self.write(bytemuck::cast_slice(words))
    }

    /// The staged bytes, read back.
    fn into_bytes(self) -> std::io::Result<Vec<u8>> {
        match self {
            Staging::Memory(bytes) => Ok(bytes),
            Staging::File(out, len) => {
                use std::io::Read;
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                let mut bytes = vec![0u8; len as usize];
                file.read_exact(&mut bytes)?;
                Ok(bytes)
            }
        }
    }

    /// The staged words (written with [`Staging::write_words`]), read back.
    fn into_words(self) -> std::io::Result<Vec<u32>> {
        match self {
            Staging::Memory(bytes) => Ok(bytes
                .chunks_exact(4)
                .map(|w| u32::from_ne_bytes(w.try_into().expect("four bytes")))
                .collect()),
            Staging::File(out, len) => {
                use std::io::Read;
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                let mut words = vec![0u32; len as usize / 4];
                file.read_exact(bytemuck::cast_slice_mut(&mut words))?;
                Ok(words)
            }
        }
    }

    /// The staged bytes as section `number` of `sink`'s file, without holding them.
    fn put<W: Write>(self, sink: &mut Sink<'_, W>, number: usize) -> std::io::Result<()> {
        match self {
            Staging::Memory(bytes) => sink.put(number, &bytes),
            Staging::File(out, len) => {
                let mut file = out.into_inner().map_err(|e| e.into_error())?;
                file.seek(SeekFrom::Start(0))?;
                sink.begin(number)?;
                let copied = std::io::copy(&mut file, sink.out)?;
                if copied != len {
                    return Err(std::io::Error::other("a staging file was cut short"));
                }
                sink.end(number, copied);
                Ok(())
            }
        }
    }
}

/// Writes one registry file: [`add`](Builder::add) every object (source, parsed object,
/// what [`super::admit::admit`] said of it), then [`finish`](Builder::finish). Texts go to
/// the output as they come; the indexes are kept (compactly) until the end.
pub struct Builder<W: Write + Seek> {
    out: W,
    /// Bytes of text written so far.
    texts: u64,
    count: usize,
    sources: Vec<String>,
    classes: Vec<&'static str>,
    /// Object entries ([`OBJECT_WORDS`] each), written out as they are.
    objects: Staging,
    keys: Staging,
    /// (key offset, key length, id, source and class): [`PRIMARY_WORDS`] and the sort's
    /// first field, sorted at the end.
    primary: Staging,
    primary_keys: Staging,
    lookup: Postings,
    words: Postings,
    inverse: Postings,
    ranges: [Ranges; 5],
    origins: Vec<u32>,
    route_prefixes: Vec<u8>,
    aut_nums: Vec<(u32, u32)>,
}

impl<W: Write + Seek> Builder<W> {
    /// A builder that keeps its staging in memory (small builds, tests).
    pub fn new(out: W) -> std::io::Result<Builder<W>> {
        Builder::with_staging(out, None)
    }

    /// A builder whose per-object entries wait in unlinked files in `dir` (builds of real
    /// size: the heap then holds the key maps and range items only).
    pub fn staged_in(out: W, dir: &std::path::Path) -> std::io::Result<Builder<W>> {
        Builder::with_staging(out, Some(dir))
    }

    fn with_staging(mut out: W, dir: Option<&std::path::Path>) -> std::io::Result<Builder<W>> {
        let staging = |name: &str| match dir {
            Some(dir) => Staging::file(dir, name),
            None => Ok(Staging::Memory(Vec::new())),
        };
        if !cfg!(target_endian = "little") {
            // Sections are written as the machine holds them.
            return Err(std::io::Error::other("registry files are little-endian"));
        }
        // Header and table are written at the end; texts start after their room.
        let room = align(HEADER_LEN as u64 + 16 * section::COUNT as u64);
        out.seek(SeekFrom::Start(room))?;
        Ok(Builder {
            out,
            texts: 0,
            count: 0,
            sources: Vec::new(),
            classes: Vec::new(),
            objects: staging("objects")?,
            keys: staging("keys")?,
            primary: staging("primary")?,
            primary_keys: staging("primary-keys")?,
            lookup: Postings::default(),
            words: Postings::default(),
            inverse: Postings::default(),
            ranges: Default::default(),
            origins: Vec::new(),
            route_prefixes: Vec::new(),
            aut_nums: Vec::new(),
        })
    }

    pub fn len(&self) -> usize {
        self.count
    }

    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn source_number(&mut self, name: &str) -> u32 {
        match self
            .sources
            .iter()
            .position(|s| s.eq_ignore_ascii_case(name))
        {
            Some(at) => at as u32,
            None => {
                self.sources.push(name.to_ascii_uppercase());
                (self.sources.len() - 1) as u32
            }
        }
    }

    fn class_number(&mut self, class: &'static str) -> u32 {
        match self.classes.iter().position(|c| *c == class) {
            Some(at) => at as u32,
            None => {
                self.classes.push(class);
                (self.classes.len() - 1) as u32
            }
        }
    }

    /// Add one object. The caller makes (source, class, canonical key) unique: the store
    /// does, and `Registry::build` keeps the last of equal keys.
    pub fn add(
        &mut self,
        source: &str,
        facts: Admitted,
        object: &RpslObject,
    ) -> std::io::Result<()> {
        self.add_prepared(source, Prepared::of(facts, object.clone()))
    }

    /// Add one object whose index entries were worked out already (on another thread).
    pub fn add_prepared(&mut self, source: &str, prepared: Prepared) -> std::io::Result<()> {
        let facts = &prepared.facts;
        let text = &prepared.text;
        let id = self.len() as u32;
        let source = self.source_number(source);
        let class = self.class_number(facts.template.class);
        // Offsets inside the file are u32 (texts excepted): refuse rather than wrap.
        let full = |len: u64, more: usize| len + more as u64 > u32::MAX as u64;
        if source > u16::MAX as u32
            || id == u32::MAX
            || full(self.keys.len(), facts.key.len())
            || full(self.primary_keys.len(), facts.canonical.len())
            || full(self.route_prefixes.len() as u64, 64)
        {
            return Err(std::io::Error::other(
                "too many objects, sources or key bytes for one registry file",
            ));
        }
        let text = text.as_bytes();
        self.out.write_all(text)?;
        self.objects.write_words(&[
            self.texts as u32,
            (self.texts >> 32) as u32,
            text.len() as u32,
            self.keys.len() as u32,
            facts.key.len() as u32,
            source | class << 16,
            facts.asn.unwrap_or(0),
            if facts.asn.is_some() { HAS_ASN } else { 0 },
        ])?;
        self.count += 1;
        self.texts += text.len() as u64;
        self.keys.write(facts.key.as_bytes())?;
        self.primary.write_words(&[
            self.primary_keys.len() as u32,
            facts.canonical.len() as u32,
            id,
            source | class << 16,
        ])?;
        self.primary_keys.write(facts.canonical.as_bytes())?;

        let kind = facts.template.class;
        if let Some((family, span, range_kind)) = facts.range {
            let slot = RANGE_INDEXES
                .iter()
                .position(|k| *k == Some((family, range_kind)))
                .expect("every family and kind has an index");
            self.ranges[slot].push(span, id);
            if let (RangeKind::Route, Some(prefix)) = (range_kind, &prepared.route_prefix) {
                let origin = facts.asn.expect("admitted routes have one");
                self.origins.extend([
                    origin,
                    id,
                    source,
                    (kind == "route6") as u32,
                    self.route_prefixes.len() as u32,
                    prefix.len() as u32,
                ]);
                self.route_prefixes.extend_from_slice(prefix.as_bytes());
            }
        }
        if kind == "aut-num" {
            self.aut_nums
                .push((facts.asn.expect("admitted aut-nums have one"), id));
        }
        if let Some(span) = facts.as_block {
            self.ranges[4].push(span, id);
        }
        for (map, key, hash) in prepared.keys() {
            match map {
                Map::Lookup => self.lookup.add(key, hash, id),
                Map::Word => self.words.add(key, hash, id),
                Map::Inverse => self.inverse.add(key, hash, id),
            }
        }
        Ok(())
    }

    /// Write the indexes, the footer and the header; returns the output. Sections are
    /// written one at a time, each freed before the next is made, the largest transient
    /// ones (posting lists, range trees) while little else is held.
    pub fn finish(mut self, generation: i64, fingerprint: u64) -> std::io::Result<W> {
        let count = self.len();
        let mut table = vec![(0u64, 0u64); section::COUNT];
        let room = align(HEADER_LEN as u64 + 16 * section::COUNT as u64);
        table[section::TEXTS] = (room, self.texts);
        let at = room + self.texts;
        let mut sink = Sink {
            out: &mut self.out,
            at,
            table: &mut table,
        };
        sink.put(section::SOURCES, self.sources.join("\n").as_bytes())?;
        sink.put(section::CLASSES, self.classes.join("\n").as_bytes())?;
        std::mem::replace(&mut self.objects, Staging::Memory(Vec::new()))
            .put(&mut sink, section::OBJECTS)?;
        std::mem::replace(&mut self.keys, Staging::Memory(Vec::new()))
            .put(&mut sink, section::KEYS)?;
        for (first, postings) in [
            (section::LOOKUP, &mut self.lookup),
            (section::WORDS, &mut self.words),
            (section::INVERSE, &mut self.inverse),
        ] {
            std::mem::take(postings).finish(&mut sink, first)?;
        }
        let mut tops = Vec::new();
        for (slot, items) in std::mem::take(&mut self.ranges).into_iter().enumerate() {
            let index = RangeIndexBuf::build(items.into_items());
            tops.push(index.top);
            let first = section::RANGES + 3 * slot;
            sink.put(first, bytemuck::cast_slice(&index.bounds))?;
            sink.put(first + 1, bytemuck::cast_slice(&index.links))?;
            sink.put(first + 2, bytemuck::cast_slice(&index.ids))?;
        }
        // Routes by origin, ids ascending within an origin (they were added in id order).
        let mut origins: Vec<&[u32]> = self.origins.chunks_exact(ORIGIN_WORDS).collect();
        origins.sort_by_key(|e| e[0]);
        sink.put(section::ORIGINS, bytemuck::cast_slice(&origins.concat()))?;
        drop(origins);
        self.origins = Vec::new();
        sink.put(
            section::ROUTE_PREFIXES,
            &std::mem::take(&mut self.route_prefixes),
        )?;
        self.aut_nums.sort_unstable();
        let aut_nums: Vec<u32> = self.aut_nums.iter().flat_map(|&(a, i)| [a, i]).collect();
        sink.put(section::AUT_NUMS, bytemuck::cast_slice(&aut_nums))?;

        // The primary index last: ids by (source and class, canonical key).
        let primary =
            std::mem::replace(&mut self.primary, Staging::Memory(Vec::new())).into_words()?;
        let keys =
            std::mem::replace(&mut self.primary_keys, Staging::Memory(Vec::new())).into_bytes()?;
        const STAGED_WORDS: usize = PRIMARY_WORDS + 1;
        let mut order: Vec<u32> = (0..primary.len() / STAGED_WORDS)
            .map(|i| i as u32)
            .collect();
        let sort_key = |i: u32| {
            let e = &primary[i as usize * STAGED_WORDS..][..STAGED_WORDS];
            (e[3], &keys[e[0] as usize..(e[0] + e[1]) as usize])
        };
        order.sort_unstable_by(|&a, &b| sort_key(a).cmp(&sort_key(b)));
        let mut sorted = Vec::with_capacity(order.len() * PRIMARY_WORDS);
        for i in order {
            sorted.extend_from_slice(&primary[i as usize * STAGED_WORDS..][..PRIMARY_WORDS]);
        }
        drop(primary);
        sink.put(section::PRIMARY, bytemuck::cast_slice(&sorted))?;
        drop(sorted);
        sink.put(section::PRIMARY_KEYS, &keys)?;
        drop(keys);
        let mut counts = vec![count as u32];
        counts.extend(tops);
        sink.put(section::COUNTS, bytemuck::cast_slice(&counts))?;
        let at = sink.at;
        self.out.write_all(&FOOTER)?;
        let length = at + FOOTER.len() as u64;

        let mut head = Vec::with_capacity(HEADER_LEN + 16 * section::COUNT);
        head.extend_from_slice(&MAGIC);
        head.extend_from_slice(&VERSION.to_le_bytes());
        head.extend_from_slice(&(section::COUNT as u32).to_le_bytes());
        head.extend_from_slice(&generation.to_le_bytes());
        head.extend_from_slice(&fingerprint.to_le_bytes());
        head.extend_from_slice(&length.to_le_bytes());
        let mut table_bytes = Vec::with_capacity(16 * section::COUNT);
        for (offset, len) in &table {
            table_bytes.extend_from_slice(&offset.to_le_bytes());
            table_bytes.extend_from_slice(&len.to_le_bytes());
        }
        let checksum = digest64(&[&head, &table_bytes]);
        head.extend_from_slice(&checksum.to_le_bytes());
        head.resize(HEADER_LEN, 0);
        head.extend_from_slice(&table_bytes);
        self.out.seek(SeekFrom::Start(0))?;
        self.out.write_all(&head)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

/// How the inverse index names a value: the attribute, a NUL, the lower-case value.
pub fn inverse_key(attribute: &str, value: &str) -> String {
    let mut key = String::with_capacity(attribute.len() + 1 + value.len());
    key.push_str(attribute);
    key.push('\0');
    key.push_str(value);
    key
}

/// Where sections go as they are made: the output, its length, the table.
struct Sink<'a, W> {
    out: &'a mut W,
    at: u64,
    table: &'a mut [(u64, u64)],
}

impl<W: Write> Sink<'_, W> {
    fn put(&mut self, number: usize, bytes: &[u8]) -> std::io::Result<()> {
        self.begin(number)?;
        self.out.write_all(bytes)?;
        self.end(number, bytes.len() as u64);
        Ok(())
    }

    /// Start section `number`: its bytes are written to `out` next, then [`Sink::end`].
    fn begin(&mut self, number: usize) -> std::io::Result<()> {
        let start = align(self.at);
        self.out
            .write_all(&[0u8; ALIGN as usize][..(start - self.at) as usize])?;
        self.table[number] = (start, 0);
        self.at = start;
        Ok(())
    }

    fn end(&mut self, number: usize, len: u64) {
        self.table[number].1 = len;
        self.at += len;
    }
}

fn align(at: u64) -> u64 {
    at.div_ceil(ALIGN) * ALIGN
}

/// Why a file cannot be read (it is then rebuilt from the store).
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("no such file")]
    Missing,
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Damaged(String),
    #[error("built for store generation {found}, the store is at {wanted}")]
    Stale { found: i64, wanted: i64 },
}

/// The bytes of a file: mapped, or in memory (tests, and a server without a data dir).
pub enum Bytes {
    Mapped(memmap2::Mmap),
    /// `u128`s so the start is aligned as a map's is; the length in bytes beside.
    Heap(Vec<u128>, usize),
}

impl std::ops::Deref for Bytes {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        match self {
            Bytes::Mapped(map) => map,
            Bytes::Heap(words, len) => &bytemuck::cast_slice::<u128, u8>(words)[..*len],
        }
    }
}

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Bytes::Mapped(map) => write!(f, "Mapped({} bytes)", map.len()),
            Bytes::Heap(_, len) => write!(f, "Heap({len} bytes)"),
        }
    }
}

impl Bytes {
    pub fn heap(bytes: &[u8]) -> Bytes {
        let mut words = vec![0u128; bytes.len().div_ceil(16)];
        bytemuck::cast_slice_mut::<u128, u8>(&mut words)[..bytes.len()].copy_from_slice(bytes);
        Bytes::Heap(words, bytes.len())
    }

    /// Map `path` read-only.
    pub fn map(path: &std::path::Path) -> Result<Bytes, OpenError> {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(OpenError::Missing),
            Err(e) => return Err(e.into()),
        };
        // SAFETY: the map is read-only and the file is never written after it is renamed
        // into place (a new generation is a new file), so its bytes do not change under
        // the map. Every read of them is bounds-checked (`Sections`).
        #[allow(unsafe_code)]
        let map = unsafe { memmap2::Mmap::map(&file)? };
        Ok(Bytes::Mapped(map))
    }
}

/// A file's header and sections, checked: every section lies inside the file and is
/// aligned, the checksum holds, the footer is there.
#[derive(Debug, Clone)]
pub struct Sections {
    pub generation: i64,
    pub fingerprint: u64,
    pub ranges: Vec<Range<usize>>,
}

impl Sections {
    pub fn read(bytes: &[u8]) -> Result<Sections, OpenError> {
        let damaged = |why: &str| OpenError::Damaged(why.to_owned());
        if !cfg!(target_endian = "little") {
            return Err(damaged(
                "registry files are little-endian; this machine is not",
            ));
        }
        if bytes.len() < HEADER_LEN + FOOTER.len() || bytes[..8] != MAGIC {
            return Err(damaged("not a registry file (no header)"));
        }
        let u32_at = |at: usize| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
        let u64_at = |at: usize| u64::from_le_bytes(bytes[at..at + 8].try_into().unwrap());
        let version = u32_at(8);
        if version != VERSION {
            return Err(OpenError::Damaged(format!(
                "format version {version}, this ipintel reads {VERSION}"
            )));
        }
        let count = u32_at(12) as usize;
        if count != section::COUNT {
            return Err(damaged("wrong number of sections"));
        }
        let table_end = HEADER_LEN + 16 * count;
        if bytes.len() < table_end {
            return Err(damaged("cut short in its table"));
        }
        let length = u64_at(32);
        if length != bytes.len() as u64 {
            return Err(OpenError::Damaged(format!(
                "{} bytes long, its header says {length}: cut short or grown",
                bytes.len()
            )));
        }
        if bytes[bytes.len() - FOOTER.len()..] != FOOTER {
            return Err(damaged("no footer: the file was not finished"));
        }
        let checksum = digest64(&[&bytes[..40], &bytes[HEADER_LEN..table_end]]);
        if checksum != u64_at(40) {
            return Err(damaged("header checksum does not match"));
        }
        let mut ranges = Vec::with_capacity(count);
        for i in 0..count {
            let offset = u64_at(HEADER_LEN + 16 * i);
            let len = u64_at(HEADER_LEN + 16 * i + 8);
            let end = offset.checked_add(len).filter(|&end| end <= length - 8);
            match end {
                Some(end) if offset % ALIGN == 0 && offset >= table_end as u64 => {
                    ranges.push(offset as usize..end as usize)
                }
                _ => {
                    return Err(OpenError::Damaged(format!(
                        "section {i} lies outside the file"
                    )))
                }
            }
        }
        Ok(Sections {
            generation: u64_at(16) as i64,
            fingerprint: u64_at(24),
            ranges,
        })
    }
}
