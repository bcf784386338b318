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
    hasher: hashbrown::DefaultHashBuilder,
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

    fn add(&mut self, key: &str, id: u32) {
        use std::hash::BuildHasher;
        let hash = self.hasher.hash_one(key.as_bytes());
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
                let (arena, spans, hasher) = (&self.arena, &self.spans, &self.hasher);
                self.table.insert_unique(hash, n, |&m| {
                    let (at, len) = spans[m as usize];
                    hasher.hash_one(&arena[at as usize..(at + len) as usize])
                });
                n
            }
        };
        if self.pairs.last() != Some(&(number, id)) {
            self.pairs.push((number, id));
        }
    }

    /// Entries (in key byte order), key bytes and ids.
    fn finish(mut self) -> std::io::Result<(Vec<u32>, Vec<u8>, Vec<u32>)> {
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
        let mut entries = Vec::with_capacity(order.len() * MAP_WORDS);
        let mut ids = Vec::with_capacity(pairs.len());
        let mut next = 0;
        for (position, &n) in order.iter().enumerate() {
            let from = ids.len();
            while next < pairs.len() && pairs[next].0 == position as u32 {
                ids.push(pairs[next].1);
                next += 1;
            }
            let (at, len) = self.spans[n as usize];
            entries.extend([at, len, from as u32, (ids.len() - from) as u32]);
        }
        Ok((entries, self.arena, ids))
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
    /// (map, end of the key in `keys`), in order.
    ends: Vec<(Map, u32)>,
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
        let mut keys = String::new();
        let mut ends = Vec::new();
        let mut push = |map: Map, key: &str, keys: &mut String| {
            keys.push_str(key);
            ends.push((map, keys.len() as u32));
        };
        for attribute in object.attributes() {
            let Some(spec) = facts.template.attribute(attribute.name) else {
                continue;
            };
            if !(spec.lookup || spec.inverse) || attribute.value.is_empty() {
                continue;
            }
            let value = attribute.value.to_lowercase();
            if spec.lookup {
                let words = matches!(
                    (kind, spec.name),
                    ("person", "person") | ("role", "role") | ("organisation", "org-name")
                );
                if words {
                    for word in value.split_whitespace() {
                        push(Map::Word, word, &mut keys);
                    }
                } else {
                    push(Map::Lookup, &value, &mut keys);
                }
            }
            if spec.inverse {
                // Lists (`mnt-by: A, B`) are indexed item by item, under the attribute.
                for item in value.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                    keys.push_str(spec.name);
                    keys.push('\0');
                    push(Map::Inverse, item, &mut keys);
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

    /// The index keys, in order.
    fn keys(&self) -> impl Iterator<Item = (Map, &str)> + '_ {
        let mut from = 0usize;
        self.ends.iter().map(move |&(map, end)| {
            let start = from;
            from = end as usize;
            (map, &self.keys[start..end as usize])
        })
    }
}

/// Writes one registry file: [`add`](Builder::add) every object (source, parsed object,
/// what [`super::admit::admit`] said of it), then [`finish`](Builder::finish). Texts go to
/// the output as they come; the indexes are kept (compactly) until the end.
pub struct Builder<W: Write + Seek> {
    out: W,
    /// Bytes of text written so far.
    texts: u64,
    sources: Vec<String>,
    classes: Vec<&'static str>,
    objects: Vec<u32>,
    keys: Vec<u8>,
    primary: Vec<u32>,
    primary_keys: Vec<u8>,
    lookup: Postings,
    words: Postings,
    inverse: Postings,
    ranges: [Vec<(Span, u32)>; 5],
    origins: Vec<u32>,
    route_prefixes: Vec<u8>,
    aut_nums: Vec<(u32, u32)>,
}

impl<W: Write + Seek> Builder<W> {
    pub fn new(mut out: W) -> std::io::Result<Builder<W>> {
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
            sources: Vec::new(),
            classes: Vec::new(),
            objects: Vec::new(),
            keys: Vec::new(),
            primary: Vec::new(),
            primary_keys: Vec::new(),
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
        self.objects.len() / OBJECT_WORDS
    }

    pub fn is_empty(&self) -> bool {
        self.objects.is_empty()
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
        let full = |len: usize, more: usize| len + more > u32::MAX as usize;
        if source > u16::MAX as u32
            || id == u32::MAX
            || full(self.keys.len(), facts.key.len())
            || full(self.primary_keys.len(), facts.canonical.len())
            || full(self.route_prefixes.len(), 64)
        {
            return Err(std::io::Error::other(
                "too many objects, sources or key bytes for one registry file",
            ));
        }
        let text = text.as_bytes();
        self.out.write_all(text)?;
        self.objects.extend([
            self.texts as u32,
            (self.texts >> 32) as u32,
            text.len() as u32,
            self.keys.len() as u32,
            facts.key.len() as u32,
            source | class << 16,
            facts.asn.unwrap_or(0),
            if facts.asn.is_some() { HAS_ASN } else { 0 },
        ]);
        self.texts += text.len() as u64;
        self.keys.extend_from_slice(facts.key.as_bytes());
        self.primary.extend([
            self.primary_keys.len() as u32,
            facts.canonical.len() as u32,
            id,
        ]);
        self.primary_keys
            .extend_from_slice(facts.canonical.as_bytes());

        let kind = facts.template.class;
        if let Some((family, span, range_kind)) = facts.range {
            let slot = RANGE_INDEXES
                .iter()
                .position(|k| *k == Some((family, range_kind)))
                .expect("every family and kind has an index");
            self.ranges[slot].push((span, id));
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
            self.ranges[4].push((span, id));
        }
        for (map, key) in prepared.keys() {
            match map {
                Map::Lookup => self.lookup.add(key, id),
                Map::Word => self.words.add(key, id),
                Map::Inverse => self.inverse.add(key, id),
            }
        }
        Ok(())
    }

    /// Write the indexes, the footer and the header; returns the output.
    pub fn finish(mut self, generation: i64, fingerprint: u64) -> std::io::Result<W> {
        let count = self.len();
        let mut table = vec![(0u64, 0u64); section::COUNT];
        let room = align(HEADER_LEN as u64 + 16 * section::COUNT as u64);
        table[section::TEXTS] = (room, self.texts);
        let at = room + self.texts;

        // The primary index: ids by (source, class, canonical key).
        let objects = &self.objects;
        let keys = &self.primary_keys;
        let mut order: Vec<u32> = (0..self.primary.len() / PRIMARY_WORDS)
            .map(|i| i as u32)
            .collect();
        let primary = &self.primary;
        let sort_key = |i: u32| {
            let e = &primary[i as usize * PRIMARY_WORDS..][..PRIMARY_WORDS];
            let id = e[2] as usize;
            (
                objects[id * OBJECT_WORDS + 5],
                &keys[e[0] as usize..(e[0] + e[1]) as usize],
            )
        };
        order.sort_unstable_by(|&a, &b| sort_key(a).cmp(&sort_key(b)));
        let mut sorted = Vec::with_capacity(self.primary.len());
        for i in order {
            sorted.extend_from_slice(&primary[i as usize * PRIMARY_WORDS..][..PRIMARY_WORDS]);
        }

        // Each section is written as soon as it is made, so the build never holds the
        // file's indexes twice.
        let mut sink = Sink {
            out: &mut self.out,
            at,
            table: &mut table,
        };
        sink.put(section::SOURCES, self.sources.join("\n").as_bytes())?;
        sink.put(section::CLASSES, self.classes.join("\n").as_bytes())?;
        sink.put(section::OBJECTS, bytemuck::cast_slice(&self.objects))?;
        self.objects = Vec::new();
        sink.put(section::KEYS, &std::mem::take(&mut self.keys))?;
        sink.put(section::PRIMARY, bytemuck::cast_slice(&sorted))?;
        drop(sorted);
        self.primary = Vec::new();
        sink.put(
            section::PRIMARY_KEYS,
            &std::mem::take(&mut self.primary_keys),
        )?;
        for (first, postings) in [
            (section::LOOKUP, std::mem::take(&mut self.lookup)),
            (section::WORDS, std::mem::take(&mut self.words)),
            (section::INVERSE, std::mem::take(&mut self.inverse)),
        ] {
            let (entries, bytes, ids) = postings.finish()?;
            sink.put(first, bytemuck::cast_slice(&entries))?;
            sink.put(first + 1, &bytes)?;
            sink.put(first + 2, bytemuck::cast_slice(&ids))?;
        }
        let mut tops = Vec::new();
        for (slot, items) in std::mem::take(&mut self.ranges).into_iter().enumerate() {
            let index = RangeIndexBuf::build(items);
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
        sink.put(section::ROUTE_PREFIXES, &self.route_prefixes)?;
        self.aut_nums.sort_unstable();
        let aut_nums: Vec<u32> = self.aut_nums.iter().flat_map(|&(a, i)| [a, i]).collect();
        sink.put(section::AUT_NUMS, bytemuck::cast_slice(&aut_nums))?;
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
        let start = align(self.at);
        self.out
            .write_all(&[0u8; ALIGN as usize][..(start - self.at) as usize])?;
        self.out.write_all(bytes)?;
        self.table[number] = (start, bytes.len() as u64);
        self.at = start + bytes.len() as u64;
        Ok(())
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
