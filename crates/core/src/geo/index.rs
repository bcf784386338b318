//! The flat lookup index: the core of lookup speed.
//!
//! At load time every database's search tree is read leaf by leaf (all databases in step,
//! so no list of leaves is ever held), and the leaves of all databases are merged into one
//! partition of each address family into CIDR blocks over
//! which every database gives the same answer. A block holds dense ids of the records that
//! answer for it; records are decoded (and rendered, through their memo) at most once, into
//! tables indexed by those ids.
//!
//! A lookup is then one load from a 65,537-entry bucket table (by the top 16 bits), a binary
//! search among the few blocks of that bucket, and one row load: no tree walk, no hashing, no
//! reference counting. The block's size gives the answer's network (the narrowest network of
//! every lookup merged), exactly what walking each tree and keeping the longest prefix gives.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use maxminddb::WithinOptions;

use super::db::GeoDb;
use super::GeoError;

/// "No record" in a row.
pub(crate) const NONE: u32 = u32::MAX;

/// An address as an unsigned integer of its family's width.
pub(crate) trait Addr: Copy + Ord + Eq + std::hash::Hash + std::fmt::Debug {
    const BITS: u32;
    const ZERO: Self;
    fn bucket(self) -> usize;
    fn from_bucket(bucket: usize) -> Self;
    fn trailing_zeros(self) -> u32;
    fn wrapping_sub(self, other: Self) -> Self;
    /// `self + 2^bits`, or `None` past the end of the family.
    fn checked_add_pow2(self, bits: u32) -> Option<Self>;
    fn to_ip(self) -> IpAddr;
    fn from_ip(ip: IpAddr) -> Option<Self>;
}

impl Addr for u32 {
    const BITS: u32 = 32;
    const ZERO: Self = 0;
    fn bucket(self) -> usize {
        (self >> 16) as usize
    }
    fn from_bucket(bucket: usize) -> Self {
        (bucket as u32) << 16
    }
    fn trailing_zeros(self) -> u32 {
        u32::trailing_zeros(self)
    }
    fn wrapping_sub(self, other: Self) -> Self {
        u32::wrapping_sub(self, other)
    }
    fn checked_add_pow2(self, bits: u32) -> Option<Self> {
        1u32.checked_shl(bits)
            .and_then(|step| self.checked_add(step))
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(self))
    }
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V4(v4) => Some(u32::from(v4)),
            IpAddr::V6(_) => None,
        }
    }
}

impl Addr for u128 {
    const BITS: u32 = 128;
    const ZERO: Self = 0;
    fn bucket(self) -> usize {
        (self >> 112) as usize
    }
    fn from_bucket(bucket: usize) -> Self {
        (bucket as u128) << 112
    }
    fn trailing_zeros(self) -> u32 {
        u128::trailing_zeros(self)
    }
    fn wrapping_sub(self, other: Self) -> Self {
        u128::wrapping_sub(self, other)
    }
    fn checked_add_pow2(self, bits: u32) -> Option<Self> {
        1u128
            .checked_shl(bits)
            .and_then(|step| self.checked_add(step))
    }
    fn to_ip(self) -> IpAddr {
        IpAddr::V6(Ipv6Addr::from(self))
    }
    fn from_ip(ip: IpAddr) -> Option<Self> {
        match ip {
            IpAddr::V6(v6) => Some(u128::from(v6)),
            IpAddr::V4(_) => None,
        }
    }
}

/// A data-section offset, or `NO_DATA`: 4 bytes where an `Option<usize>` takes 16.
const NO_DATA: u32 = u32::MAX;

/// One leaf: where it starts, and its record's offset (or `NO_DATA`).
type Leaf<A> = (A, u32);

/// A tree leaf as iterated: start, offset, and where the next leaf should start (`None`
/// past the family's end).
type TreeLeaf<A> = Result<(A, u32, Option<A>), GeoError>;

/// One database's leaves over one family, in address order, covering the family from 0.
/// Gaps the tree iterator skips (IPv6 alias subtrees) come out as leaves without data; those
/// are never looked up through the index. Streamed, so a build never holds every leaf of
/// every database at once.
struct LeafStream<'a, A> {
    /// The tree's leaves of this family: start, offset, and where the next one should start.
    raw: Box<dyn Iterator<Item = TreeLeaf<A>> + 'a>,
    expected: Option<A>,
    /// A leaf held back while the gap before it goes out.
    held: Option<Leaf<A>>,
    any: bool,
    done: bool,
}

fn leaf_stream<'a, A: Addr + 'a>(
    db: &'a GeoDb,
    whole: &str,
) -> Result<LeafStream<'a, A>, GeoError> {
    let reader = db.reader();
    let raw: Box<dyn Iterator<Item = _> + 'a> =
        if reader.metadata().ip_version == 4 && A::BITS == 128 {
            Box::new(std::iter::empty())
        } else {
            let within = reader
                .within(
                    whole.parse().expect("static network"),
                    WithinOptions::default().include_networks_without_data(),
                )
                .map_err(|e| db.error(e))?;
            Box::new(within.filter_map(move |item| {
                let leaf = (|| {
                    let found = item.map_err(|e| db.error(e))?;
                    let network = found.network().map_err(|e| db.error(e))?;
                    // Iterating IPv6 yields the IPv4 subtree as IPv4 networks: that is the
                    // other index.
                    let Some(start) = A::from_ip(network.network()) else {
                        return Ok(None);
                    };
                    let offset =
                        match found.offset() {
                            None => NO_DATA,
                            Some(o) => u32::try_from(o).ok().filter(|&o| o != NO_DATA).ok_or_else(
                                || GeoError::Decode {
                                    path: db.path.clone(),
                                    reason: "data section larger than 4 GiB".into(),
                                },
                            )?,
                        };
                    let next = start.checked_add_pow2(A::BITS - u32::from(network.prefix()));
                    Ok(Some((start, offset, next)))
                })();
                leaf.transpose()
            }))
        };
    Ok(LeafStream {
        raw,
        expected: Some(A::ZERO),
        held: None,
        any: false,
        done: false,
    })
}

impl<A: Addr> Iterator for LeafStream<'_, A> {
    type Item = Result<Leaf<A>, GeoError>;

    fn next(&mut self) -> Option<Self::Item> {
        if let Some(leaf) = self.held.take() {
            return Some(Ok(leaf));
        }
        if self.done {
            return None;
        }
        match self.raw.next() {
            Some(Err(e)) => {
                self.done = true;
                Some(Err(e))
            }
            Some(Ok((start, offset, next))) => {
                let gap = self.expected.filter(|&at| at != start);
                self.expected = next;
                self.any = true;
                match gap {
                    Some(at) => {
                        self.held = Some((start, offset));
                        Some(Ok((at, NO_DATA)))
                    }
                    None => Some(Ok((start, offset))),
                }
            }
            None => {
                self.done = true;
                if !self.any {
                    // An empty tree (or the family it lacks): one leaf without data.
                    return Some(Ok((A::ZERO, NO_DATA)));
                }
                // The space after the last leaf, if the tree stops short of the end.
                self.expected.map(|at| Ok((at, NO_DATA)))
            }
        }
    }
}

/// One family's partition: block starts and the record ids of each block.
pub(crate) struct FlatIndex<A> {
    /// `buckets[b]` is the block holding the bucket's first address; the blocks of bucket
    /// `b` are `buckets[b] ..= buckets[b + 1]`.
    buckets: Box<[u32]>,
    starts: Box<[A]>,
    /// place, network traits, anonymity: ids into the record tables, or `NONE`.
    rows: Box<[[u32; 3]]>,
}

impl<A: Addr> FlatIndex<A> {
    /// The block holding `addr`: its row and its network's prefix length.
    #[inline]
    pub(crate) fn find(&self, addr: A) -> ([u32; 3], u8) {
        let bucket = addr.bucket();
        let lo = self.buckets[bucket] as usize;
        let hi = self.buckets[bucket + 1] as usize;
        let window = &self.starts[lo..=hi.min(self.starts.len() - 1)];
        let i = lo + window.partition_point(|&s| s <= addr) - 1;
        let start = self.starts[i];
        let size_zeros = match self.starts.get(i + 1) {
            Some(&next) => next.wrapping_sub(start).trailing_zeros(),
            None => A::ZERO.wrapping_sub(start).trailing_zeros(),
        };
        let zeros = size_zeros.min(start.trailing_zeros()).min(A::BITS);
        (self.rows[i], (A::BITS - zeros) as u8)
    }

    pub(crate) fn n_blocks(&self) -> usize {
        self.starts.len()
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        self.buckets.len() * 4 + self.starts.len() * std::mem::size_of::<A>() + self.rows.len() * 12
    }
}

/// Which database answers which part of a row.
pub(crate) struct Roles {
    pub place: Option<usize>,
    pub network: Vec<usize>,
    pub anonymity: Option<usize>,
}

/// Dense numbering of records, shared by both families.
#[derive(Default)]
pub(crate) struct Ids {
    pub place: HashMap<usize, u32>,
    pub traits: HashMap<TraitsKey, u32>,
    pub anonymity: HashMap<usize, u32>,
    /// An address each id's records are found at, to decode them later.
    pub place_at: Vec<IpAddr>,
    pub traits_at: Vec<IpAddr>,
    pub anonymity_at: Vec<IpAddr>,
    /// Place ids whose record carries traits (they join the traits key).
    pub place_has_traits: Vec<bool>,
}

impl Ids {
    /// Drop the offset -> id maps once every id is given; only the `*_at` lists are read
    /// afterwards.
    pub fn forget_build_maps(&mut self) {
        self.place = HashMap::new();
        self.traits = HashMap::new();
        self.anonymity = HashMap::new();
        self.place_has_traits = Vec::new();
        self.place_at.shrink_to_fit();
        self.traits_at.shrink_to_fit();
        self.anonymity_at.shrink_to_fit();
    }
}

/// The offsets behind one merged network-traits record: the place record when it carries
/// traits, then each network database in precedence order.
pub(crate) type TraitsKey = [Option<usize>; 5];

fn dense(
    map: &mut HashMap<usize, u32>,
    at: &mut Vec<IpAddr>,
    offset: usize,
    ip: IpAddr,
) -> (u32, bool) {
    let next = at.len() as u32;
    let id = *map.entry(offset).or_insert(next);
    let fresh = id == next;
    if fresh {
        at.push(ip);
    }
    (id, fresh)
}

/// Build one family's index over `dbs`.
pub(crate) fn build<A: Addr>(
    dbs: &[GeoDb],
    roles: &Roles,
    ids: &mut Ids,
    whole: &str,
    place_traits: impl Fn(&GeoDb, IpAddr) -> Result<bool, GeoError>,
) -> Result<FlatIndex<A>, GeoError> {
    let mut streams: Vec<std::iter::Peekable<LeafStream<'_, A>>> = dbs
        .iter()
        .map(|db| leaf_stream::<A>(db, whole).map(Iterator::peekable))
        .collect::<Result<_, _>>()?;
    // Every leaf start of every database, in order and without repeats, is a block start;
    // at each, every database answers with its last leaf starting at or before it.
    let mut boundaries: Vec<A> = Vec::new();
    let mut rows: Vec<[u32; 3]> = Vec::new();
    let mut current = vec![NO_DATA; streams.len()];
    let mut offsets = vec![None; streams.len()];
    loop {
        let mut next: Option<A> = None;
        for stream in &mut streams {
            match stream.peek() {
                Some(Ok((at, _))) => next = Some(next.map_or(*at, |n: A| n.min(*at))),
                Some(Err(_)) => return Err(stream.next().expect("peeked").unwrap_err()),
                None => {}
            }
        }
        let Some(start) = next else { break };
        for (k, stream) in streams.iter_mut().enumerate() {
            while let Some(Ok((at, offset))) = stream.peek() {
                if *at > start {
                    break;
                }
                current[k] = *offset;
                stream.next();
            }
            offsets[k] = (current[k] != NO_DATA).then_some(current[k] as usize);
        }
        let ip = start.to_ip();
        let mut row = [NONE; 3];
        let mut key: TraitsKey = [None; 5];
        if let Some(p) = roles.place {
            if let Some(offset) = offsets[p] {
                let (id, fresh) = dense(&mut ids.place, &mut ids.place_at, offset, ip);
                if fresh {
                    ids.place_has_traits.push(place_traits(&dbs[p], ip)?);
                }
                row[0] = id;
                if ids.place_has_traits[id as usize] {
                    key[0] = Some(offset);
                }
            }
        }
        for (slot, &n) in roles.network.iter().enumerate() {
            key[slot + 1] = offsets[n];
        }
        if key.iter().any(Option::is_some) {
            let next = ids.traits_at.len() as u32;
            let id = *ids.traits.entry(key).or_insert(next);
            if id == next {
                ids.traits_at.push(ip);
            }
            row[1] = id;
        }
        if let Some(a) = roles.anonymity {
            if let Some(offset) = offsets[a] {
                row[2] = dense(&mut ids.anonymity, &mut ids.anonymity_at, offset, ip).0;
            }
        }
        boundaries.push(start);
        rows.push(row);
    }
    drop(streams);
    // With no database at all, the family is one block without data.
    if boundaries.is_empty() {
        boundaries.push(A::ZERO);
        rows.push([NONE; 3]);
    }

    let mut buckets = Vec::with_capacity(65_537);
    let mut i = 0usize;
    for bucket in 0..65_536usize {
        let first = A::from_bucket(bucket);
        while i + 1 < boundaries.len() && boundaries[i + 1] <= first {
            i += 1;
        }
        buckets.push(i as u32);
    }
    buckets.push((boundaries.len() - 1) as u32);
    Ok(FlatIndex {
        buckets: buckets.into_boxed_slice(),
        starts: boundaries.into_boxed_slice(),
        rows: rows.into_boxed_slice(),
    })
}
