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
/// It keeps the walk's result, so a cache miss decodes without walking the tree again.
#[derive(Clone)]
pub struct Hit<'a> {
    /// Prefix length in the address family of the query; `None` when the database cannot
    /// express a network of that family (an IPv6 query in an IPv4-only database).
    pub prefix_len: Option<u8>,
    pub offset: Option<usize>,
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

    /// The `traits` map of the record this walk landed on, decoded alone.
    pub fn decode_traits<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, GeoError> {
        match &self.found {
            Some(found) => found
                .decode_path::<T>(&[maxminddb::PathElement::Key("traits")])
                .map_err(|e| self.db.decode_error(e)),
            None => Ok(None),
        }
    }

    pub(super) fn raw_error(&self, e: raw::Error) -> GeoError {
        self.db.raw_error(e)
    }

    /// Decode the record this walk landed on (a cache miss); `None` when there is none.
    pub fn decode<T: serde::de::DeserializeOwned>(&self) -> Result<Option<T>, GeoError> {
        match &self.found {
            Some(found) => found.decode::<T>().map_err(|e| self.db.decode_error(e)),
            None => Ok(None),
        }
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
        Ok(GeoDb {
            path: path.to_owned(),
            kind,
            build_epoch: reader.metadata().build_epoch,
            database_type,
            reader,
            bytes,
            data_start,
        })
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
        let found = self.reader.lookup(ip).map_err(|e| self.decode_error(e))?;
        let network = found.network().map_err(|e| self.decode_error(e))?;
        // An IPv4 query that stops above the IPv4 subtree yields an IPv6 network: it says
        // nothing narrower than "somewhere in IPv4", so it does not narrow the answer.
        let prefix_len = (network.is_ipv4() == ip.is_ipv4()).then(|| network.prefix());
        Ok(Hit {
            prefix_len,
            offset: found.offset(),
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
