//! One MMDB file, read into memory, and what kind of data it holds.

use std::fmt;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use std::sync::Arc;

use maxminddb::Reader;

use super::raw;
use super::reserved::embedded_ipv4;
use super::GeoError;

/// The schema of a database, read from its metadata's `database_type`, never its file name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum DbKind {
    /// GeoIP2-Enterprise: City schema plus ISP-level traits and confidences.
    Enterprise,
    /// GeoIP2-City, GeoLite2-City.
    City,
    /// GeoIP2-Country, GeoLite2-Country.
    Country,
    /// GeoIP2-ISP: AS fields plus isp, organization, mobile codes.
    Isp,
    /// GeoLite2-ASN, GeoIP2-ASN, and what `ipintel data build-asn` writes.
    Asn,
    /// GeoIP2-Connection-Type.
    ConnectionType,
    /// GeoIP2-Domain.
    Domain,
    /// GeoIP-Anonymous-Plus.
    AnonymousPlus,
    /// GeoIP2-Anonymous-IP.
    AnonymousIp,
}

impl DbKind {
    /// Classify a `database_type` metadata string (e.g. `GeoLite2-City`, `GeoIP2-ISP`).
    pub fn from_database_type(database_type: &str) -> Option<DbKind> {
        let t = database_type.to_ascii_lowercase();
        let kind = if t.contains("enterprise") {
            DbKind::Enterprise
        } else if t.contains("anonymous-plus") {
            DbKind::AnonymousPlus
        } else if t.contains("anonymous-ip") {
            DbKind::AnonymousIp
        } else if t.contains("connection-type") {
            DbKind::ConnectionType
        } else if t.ends_with("-isp") {
            DbKind::Isp
        } else if t.ends_with("-asn") {
            DbKind::Asn
        } else if t.ends_with("-domain") {
            DbKind::Domain
        } else if t.ends_with("-city") {
            DbKind::City
        } else if t.ends_with("-country") {
            DbKind::Country
        } else {
            return None;
        };
        Some(kind)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DbKind::Enterprise => "enterprise",
            DbKind::City => "city",
            DbKind::Country => "country",
            DbKind::Isp => "isp",
            DbKind::Asn => "asn",
            DbKind::ConnectionType => "connection-type",
            DbKind::Domain => "domain",
            DbKind::AnonymousPlus => "anonymous-plus",
            DbKind::AnonymousIp => "anonymous-ip",
        }
    }
}

impl fmt::Display for DbKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Where one lookup landed: the prefix length of the network that holds the address in this
/// database, and the record's offset in the data section (the cache key) when there is one.
/// A miss reads the record in place (`node`) or decodes it; decoding needs maxminddb's own
/// walk, kept when maxminddb made it (IPv6) and made again after a jump-table walk.
#[derive(Clone)]
pub struct Hit<'a> {
    /// Prefix length in the address family of the query; `None` when the database cannot
    /// express a network of that family (an IPv6 query in an IPv4-only database).
    pub prefix_len: Option<u8>,
    pub offset: Option<usize>,
    /// The address walked for (IPv4 for an IPv4 form in an IPv4-only database).
    query: IpAddr,
    /// maxminddb's result when it made the walk; a walk through the jump table has none,
    /// and decoding (a miss) walks again with maxminddb.
    found: Option<maxminddb::LookupResult<'a, FileBytes>>,
    db: &'a GeoDb,
}

/// Not derived: the walk's result holds the reader, whose Debug would print the whole file.
impl fmt::Debug for Hit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hit")
            .field("prefix_len", &self.prefix_len)
            .field("offset", &self.offset)
            .field("db", &self.db.path)
            .finish()
    }
}

impl<'a> Hit<'a> {
    /// The record this walk landed on, to read in place; `None` when there is none.
    pub fn node(&self) -> Result<Option<raw::Node<'a>>, GeoError> {
        match self.offset {
            Some(offset) => self
                .db
                .data_section()
                .node(offset)
                .map(Some)
                .map_err(|e| self.db.raw_error(e)),
            None => Ok(None),
        }
    }

    /// maxminddb's result for this walk, to decode with: the one the walk made, or a second
    /// walk when the jump table made the first.
    fn with_found<R>(
        &self,
        decode: impl FnOnce(
            &maxminddb::LookupResult<'a, FileBytes>,
        ) -> Result<R, maxminddb::MaxMindDbError>,
    ) -> Result<Option<R>, GeoError> {
        if self.offset.is_none() {
            return Ok(None);
        }
        let walked;
        let found = match &self.found {
            Some(found) => found,
            None => {
                walked = self
                    .db
                    .reader
                    .lookup(self.query)
                    .map_err(|e| self.db.decode_error(e))?;
                &walked
            }
        };
        decode(found).map(Some).map_err(|e| self.db.decode_error(e))
    }

    /// The `traits` map of the record this walk landed on, decoded alone.
    pub fn decode_traits<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, GeoError> {
        Ok(self
            .with_found(|f| f.decode_path::<T>(&[maxminddb::PathElement::Key("traits")]))?
            .flatten())
    }

    pub(super) fn raw_error(&self, e: raw::Error) -> GeoError {
        self.db.raw_error(e)
    }

    /// Decode the record this walk landed on (a cache miss); `None` when there is none.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, GeoError> {
        Ok(self.with_found(|f| f.decode::<T>())?.flatten())
    }
}

/// An open database.
pub struct GeoDb {
    pub path: PathBuf,
    pub kind: DbKind,
    pub database_type: String,
    pub build_epoch: u64,
    reader: Reader<FileBytes>,
    /// The same bytes the reader holds, for reading values in place (`raw`).
    bytes: FileBytes,
    /// Where the data section starts (pointers count from here).
    data_start: usize,
    tree: Tree,
    /// The IPv4 walk's first `JUMP_BITS` steps, taken once at open.
    jump: Option<Jump>,
}

/// IPv4 walks start from a table of where the first `JUMP_BITS` steps below the IPv4 start
/// lead: the top of the tree is where every walk goes, and where a walk's cache misses were.
/// 64 Ki entries, 320 KiB a database.
const JUMP_BITS: u32 = 16;

struct Jump {
    /// For each value of the address's first `JUMP_BITS` bits: the node (or record) reached.
    nodes: Box<[u32]>,
    /// And how many bits of the address that took (fewer where a record came first).
    depths: Box<[u8]>,
}

/// The search tree's shape, from the metadata.
struct Tree {
    node_count: usize,
    record_size: u16,
    data_len: usize,
}

impl Tree {
    /// The record `bit` (0 left, 1 right) of node `node`; `None` past the end of the file.
    fn child(&self, bytes: &[u8], node: usize, bit: usize) -> Option<usize> {
        let u = |b: &[u8]| b.iter().fold(0usize, |n, &x| (n << 8) | x as usize);
        match self.record_size {
            24 => {
                let at = node * 6 + bit * 3;
                bytes.get(at..at + 3).map(u)
            }
            28 => {
                let n = bytes.get(node * 7..node * 7 + 7)?;
                Some(if bit == 0 {
                    ((n[3] as usize & 0xf0) << 20) | u(&n[0..3])
                } else {
                    ((n[3] as usize & 0x0f) << 24) | u(&n[4..7])
                })
            }
            _ => {
                let at = node * 8 + bit * 4;
                bytes.get(at..at + 4).map(u)
            }
        }
    }

    /// The data-section offset a record value names; `None` for "no data".
    fn data_offset(&self, value: usize) -> Result<Option<usize>, raw::Error> {
        if value == self.node_count {
            return Ok(None);
        }
        match value.checked_sub(self.node_count + 16) {
            Some(offset) if offset < self.data_len => Ok(Some(offset)),
            _ => Err(raw::Error("a tree record points outside the data section")),
        }
    }

    /// The jump table, when the tree has a whole IPv4 subtree (an IPv4 database, or an IPv6
    /// one whose first 96 zero bits lead to a node); `None` sends every walk to maxminddb.
    fn jump_table(&self, bytes: &[u8], ip_version: u16) -> Option<Jump> {
        let mut start = 0usize;
        if ip_version == 6 {
            for _ in 0..96 {
                if start >= self.node_count {
                    return None;
                }
                start = self.child(bytes, start, 0)?;
            }
        }
        if start >= self.node_count || self.node_count + 16 + self.data_len > u32::MAX as usize {
            return None;
        }
        let size = 1usize << JUMP_BITS;
        let mut nodes = Vec::with_capacity(size);
        let mut depths = Vec::with_capacity(size);
        for first in 0..size {
            let (mut node, mut depth) = (start, 0u32);
            while node < self.node_count && depth < JUMP_BITS {
                let bit = (first >> (JUMP_BITS - 1 - depth)) & 1;
                node = self.child(bytes, node, bit)?;
                depth += 1;
            }
            nodes.push(node as u32);
            depths.push(depth as u8);
        }
        Some(Jump {
            nodes: nodes.into_boxed_slice(),
            depths: depths.into_boxed_slice(),
        })
    }
}

/// A database file's bytes, shared by the reader and the in-place value reader.
#[derive(Clone)]
pub struct FileBytes(Arc<Vec<u8>>);

impl AsRef<[u8]> for FileBytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for GeoDb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GeoDb")
            .field("path", &self.path)
            .field("kind", &self.kind)
            .field("database_type", &self.database_type)
            .finish()
    }
}

impl GeoDb {
    /// The search tree's node count (the metadata's `node_count`), a size an operator can
    /// compare between builds.
    pub fn node_count(&self) -> u32 {
        self.reader.metadata().node_count
    }

    /// Read and validate a database file. `verify` walks the whole file (search tree and data
    /// section); without it only the metadata and one probe lookup are checked.
    ///
    /// The file is read, not mapped: a mapping would let an operator's `cp new.mmdb
    /// served.mmdb` or `truncate` pull pages from under a lookup (SIGBUS). Index building
    /// touches every page of a mapping anyway, so reading costs no extra resident memory.
    pub fn open(path: &Path, verify: bool) -> Result<GeoDb, GeoError> {
        let open_err = |reason: String| GeoError::Open {
            path: path.to_owned(),
            reason,
        };
        let bytes = std::fs::read(path).map_err(|e| GeoError::Io {
            path: path.to_owned(),
            reason: e.to_string(),
        })?;
        let bytes = FileBytes(Arc::new(bytes));
        let reader = Reader::from_source(bytes.clone()).map_err(|e| open_err(e.to_string()))?;
        // The MMDB layout: the search tree (node_count nodes of two records), 16 zero bytes,
        // the data section. The reader checked the tree fits the file.
        let metadata = reader.metadata();
        let data_start = (metadata.node_count as usize * metadata.record_size as usize / 4) + 16;
        let database_type = reader.metadata().database_type.clone();
        let kind = DbKind::from_database_type(&database_type).ok_or_else(|| {
            open_err(format!(
                "unsupported database_type {database_type:?} (expected a MaxMind schema: City, Country, Enterprise, ASN, ISP, Connection-Type, Domain, Anonymous-IP)"
            ))
        })?;
        if verify {
            reader
                .verify()
                .map_err(|e| open_err(format!("verification failed: {e}")))?;
        } else {
            // A truncated or garbled data section usually shows on the first decode.
            for probe in ["1.1.1.1", "2001:4860::1"] {
                let ip: IpAddr = probe.parse().expect("probe address");
                if reader.metadata().ip_version == 4 && ip.is_ipv6() {
                    continue;
                }
                let found = reader.lookup(ip).map_err(|e| open_err(e.to_string()))?;
                found
                    .decode::<maxminddb::geoip2::City>()
                    .map_err(|e| open_err(format!("corrupt data section: {e}")))?;
            }
        }
        let tree = Tree {
            node_count: metadata.node_count as usize,
            record_size: metadata.record_size,
            data_len: bytes.as_ref().len().saturating_sub(data_start),
        };
        let jump = tree.jump_table(bytes.as_ref(), metadata.ip_version);
        Ok(GeoDb {
            tree,
            jump,
            path: path.to_owned(),
            kind,
            build_epoch: reader.metadata().build_epoch,
            database_type,
            reader,
            bytes,
            data_start,
        })
    }

    /// Walk the IPv4 tree for `ip` from the jump table: (data offset, prefix length).
    fn walk_v4(&self, jump: &Jump, ip: u32) -> Result<(Option<usize>, u8), GeoError> {
        let first = (ip >> (32 - JUMP_BITS)) as usize;
        let (mut node, mut depth) = (jump.nodes[first] as usize, jump.depths[first] as u32);
        let bytes = self.bytes.as_ref();
        while node < self.tree.node_count {
            if depth >= 32 {
                return Err(self.raw_error(raw::Error("the search tree is deeper than IPv4")));
            }
            let bit = (ip >> (31 - depth)) & 1;
            node = self.tree.child(bytes, node, bit as usize).ok_or_else(|| {
                self.raw_error(raw::Error("a tree node past the end of the file"))
            })?;
            depth += 1;
        }
        let offset = self.tree.data_offset(node).map_err(|e| self.raw_error(e))?;
        Ok((offset, depth as u8))
    }

    /// The data section, to read records in place.
    pub fn data_section(&self) -> raw::DataSection<'_> {
        raw::DataSection::new(self.bytes.as_ref().get(self.data_start..).unwrap_or(&[]))
    }

    fn raw_error(&self, e: raw::Error) -> GeoError {
        GeoError::Decode {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }

    /// Walk the search tree for `ip`; no decoding (`Hit::decode` does that on a miss).
    pub fn hit(&self, ip: IpAddr) -> Result<Hit<'_>, GeoError> {
        let query = match ip {
            IpAddr::V6(v6) if self.reader.metadata().ip_version == 4 => match embedded_ipv4(v6) {
                Some(v4) => {
                    let found = self.lookup(IpAddr::V4(v4))?;
                    return Ok(Hit {
                        prefix_len: None,
                        ..found
                    });
                }
                None => {
                    return Ok(Hit {
                        prefix_len: None,
                        offset: None,
                        query: ip,
                        found: None,
                        db: self,
                    })
                }
            },
            _ => ip,
        };
        self.lookup(query)
    }

    fn lookup(&self, ip: IpAddr) -> Result<Hit<'_>, GeoError> {
        if let (IpAddr::V4(v4), Some(jump)) = (ip, &self.jump) {
            let (offset, depth) = self.walk_v4(jump, u32::from(v4))?;
            return Ok(Hit {
                prefix_len: Some(depth),
                offset,
                query: ip,
                found: None,
                db: self,
            });
        }
        let found = self.reader.lookup(ip).map_err(|e| self.decode_error(e))?;
        let network = found.network().map_err(|e| self.decode_error(e))?;
        // An IPv4 query that stops above the IPv4 subtree yields an IPv6 network: it says
        // nothing narrower than "somewhere in IPv4", so it does not narrow the answer.
        let prefix_len = (network.is_ipv4() == ip.is_ipv4()).then(|| network.prefix());
        Ok(Hit {
            prefix_len,
            offset: found.offset(),
            query: ip,
            found: Some(found),
            db: self,
        })
    }

    /// Decode the record that holds `ip` with the network it covers, in one tree walk.
    pub fn decode_with_network<T: serde::de::DeserializeOwned>(
        &self,
        ip: IpAddr,
    ) -> Result<Option<(T, Option<ipnet::IpNet>)>, GeoError> {
        let query = match ip {
            IpAddr::V6(v6) if self.reader.metadata().ip_version == 4 => match embedded_ipv4(v6) {
                Some(v4) => IpAddr::V4(v4),
                None => return Ok(None),
            },
            _ => ip,
        };
        let found = self
            .reader
            .lookup(query)
            .map_err(|e| self.decode_error(e))?;
        let network = found
            .network()
            .ok()
            .filter(|n| n.is_ipv4() == query.is_ipv4() && query == ip)
            .and_then(|n| ipnet::IpNet::new(n.ip(), n.prefix()).ok())
            .map(|n| n.trunc());
        Ok(found
            .decode::<T>()
            .map_err(|e| self.decode_error(e))?
            .map(|record| (record, network)))
    }

    fn decode_error(&self, e: maxminddb::MaxMindDbError) -> GeoError {
        GeoError::Decode {
            path: self.path.clone(),
            reason: e.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};
    use std::path::PathBuf;

    use super::GeoDb;

    fn xorshift(state: &mut u64) -> u64 {
        *state ^= *state << 13;
        *state ^= *state >> 7;
        *state ^= *state << 17;
        *state
    }

    /// Every IPv4 walk through the jump table lands where maxminddb's walk lands: the same
    /// record offset (or none) and the same prefix length.
    fn assert_walks_agree(db: &GeoDb, addresses: usize, seed: u64) {
        assert!(db.jump.is_some(), "{}: no jump table", db.path.display());
        let mut state = seed;
        for _ in 0..addresses {
            let ip = IpAddr::V4(Ipv4Addr::from(xorshift(&mut state) as u32));
            let hit = db.hit(ip).unwrap();
            assert!(hit.found.is_none(), "the jump table was not used");
            let found = db.reader.lookup(ip).unwrap();
            let network = found.network().unwrap();
            assert_eq!(hit.offset, found.offset(), "{ip}");
            assert_eq!(hit.prefix_len, Some(network.prefix()), "{ip}");
        }
    }

    #[test]
    fn jump_table_walks_agree_with_maxminddb() {
        // Random networks of every length, nested and overlapping: the writer keeps the
        // last word on each address.
        let mut state = 0x853c_49e6_748f_ea9bu64;
        let entries: Vec<serde_json::Value> = (0..3_000)
            .map(|n| {
                let len = 1 + xorshift(&mut state) % 32;
                let ip = Ipv4Addr::from(xorshift(&mut state) as u32);
                let net = ipnet::Ipv4Net::new(ip, len as u8).unwrap().trunc();
                serde_json::json!({ net.to_string(): {"autonomous_system_number": n} })
            })
            .collect();
        let dir = tempfile::tempdir().unwrap();
        let source = dir.path().join("random.json");
        std::fs::write(&source, serde_json::to_vec(&entries).unwrap()).unwrap();
        let out = dir.path().join("random.mmdb");
        super::super::build::build_from_json(&source, "GeoLite2-ASN", &out).unwrap();
        let db = GeoDb::open(&out, true).unwrap();
        assert_walks_agree(&db, 200_000, 7);
    }

    /// The same on GeoLite2 City (28-bit records) and ASN (24-bit) when this machine has
    /// them (`scripts/fetch-data.sh`).
    #[test]
    fn jump_table_walks_agree_on_geolite2_when_present() {
        let dir = std::env::var_os("IPINTEL_DATA_DIR")
            .map(PathBuf::from)
            .or_else(|| {
                std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share/ipintel"))
            })
            .unwrap_or_default();
        for file in ["GeoLite2-City.mmdb", "GeoLite2-ASN.mmdb"] {
            let path = dir.join(file);
            if !path.exists() {
                eprintln!("no {}; walked the random database only", path.display());
                continue;
            }
            assert_walks_agree(&GeoDb::open(&path, false).unwrap(), 200_000, 11);
        }
    }
}
