//! The GeoIP engine: a set of MMDB databases, merged into one answer per address.
//!
//! `GeoService` owns the current `GeoSet` behind an atomic pointer. A lookup takes a snapshot
//! of the set, so a reload never disturbs a request in flight: it finishes on the old set,
//! which is dropped (and its files unmapped) when the last such request ends.
//!
//! The hot path never walks a search tree: `index` merges every database's leaves into one
//! flat partition per family at load time, and records are decoded once, into tables indexed
//! by dense ids.

pub mod build;
pub mod country;
mod db;
mod index;
pub mod local;
pub mod record;
pub mod reserved;
mod summary;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use serde::Deserialize;

pub use db::{DbKind, GeoDb};
pub use record::{
    AnonymityRecord, GeoAnswer, MemoSlot, NetworkTraits, PlaceRecord, Record, MEMO_SLOTS,
};
pub use summary::Summary;

use crate::ErrorKind;

#[derive(Debug, thiserror::Error)]
pub enum GeoError {
    #[error("cannot open database {}: {reason}", path.display())]
    Open { path: PathBuf, reason: String },
    #[error("cannot read {}: {reason}", path.display())]
    Io { path: PathBuf, reason: String },
    #[error("database {} is damaged: {reason}", path.display())]
    Decode { path: PathBuf, reason: String },
    #[error("no GeoIP database is configured")]
    NoDatabases,
    #[error("the address {0} is reserved")]
    Reserved(IpAddr),
    #[error("the address {0} is not in the database")]
    NotFound(IpAddr),
}

impl GeoError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            GeoError::Reserved(_) => ErrorKind::Reserved,
            GeoError::NotFound(_) => ErrorKind::NotFound,
            GeoError::NoDatabases => ErrorKind::Unavailable,
            GeoError::Open { .. } | GeoError::Io { .. } | GeoError::Decode { .. } => {
                ErrorKind::Internal
            }
        }
    }
}

/// How a set of databases is opened.
#[derive(Debug, Clone)]
pub struct GeoOptions {
    /// Files, or directories whose `*.mmdb` files are all loaded (e.g. geoipupdate's).
    pub paths: Vec<PathBuf>,
    /// Walk every file completely before serving from it.
    pub verify: bool,
}

/// Records decoded on first use, by dense id.
struct Table<T> {
    cells: Box<[OnceLock<Box<Record<T>>>]>,
}

impl<T> Table<T> {
    fn new(n: usize) -> Self {
        Table {
            cells: (0..n).map(|_| OnceLock::new()).collect(),
        }
    }

    #[inline]
    fn get_or_decode(
        &self,
        id: u32,
        decode: impl FnOnce() -> Result<T, GeoError>,
    ) -> Result<&Record<T>, GeoError> {
        let cell = &self.cells[id as usize];
        if let Some(record) = cell.get() {
            return Ok(record);
        }
        // Two threads may decode the same record at once; one result is kept. Decoding is
        // pure, so either is right.
        let data = decode()?;
        Ok(cell.get_or_init(|| Box::new(Record::new(data))))
    }

    fn n_decoded(&self) -> usize {
        self.cells.iter().filter(|c| c.get().is_some()).count()
    }
}

/// Sizes of a set's index, for logs and benchmarks.
#[derive(Debug, Clone, Copy)]
pub struct IndexStats {
    pub ipv4_blocks: usize,
    pub ipv6_blocks: usize,
    pub index_bytes: usize,
    pub place_records: usize,
    pub traits_records: usize,
    pub anonymity_records: usize,
    pub decoded_records: usize,
}

/// An immutable set of open databases, their merged index, and their decoded records.
pub struct GeoSet {
    pub dbs: Vec<GeoDb>,
    pub generation: u64,
    pub loaded_at: SystemTime,
    roles: index::Roles,
    ids: index::Ids,
    v4: index::FlatIndex<u32>,
    v6: index::FlatIndex<u128>,
    places: Table<PlaceRecord>,
    traits: Table<NetworkTraits>,
    anonymity: Table<AnonymityRecord>,
}

impl std::fmt::Debug for GeoSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoSet")
            .field("dbs", &self.dbs)
            .field("generation", &self.generation)
            .finish()
    }
}

#[derive(Deserialize)]
struct TraitsOnly {
    #[serde(default)]
    traits: NetworkTraits,
}

impl GeoSet {
    /// Open every database the options name and build the index. Fails on the first file
    /// that cannot be used, naming it; two databases of one kind keep the first and log it.
    pub fn open(options: &GeoOptions, generation: u64) -> Result<GeoSet, GeoError> {
        let mut dbs: Vec<GeoDb> = Vec::new();
        for path in expand_paths(&options.paths)? {
            let db = GeoDb::open(&path, options.verify)?;
            if let Some(first) = dbs.iter().find(|d| d.kind == db.kind) {
                tracing::warn!(
                    kind = %db.kind,
                    kept = %first.path.display(),
                    ignored = %db.path.display(),
                    "two databases of one kind; keeping the first"
                );
                continue;
            }
            dbs.push(db);
        }
        GeoSet::from_dbs(dbs, generation)
    }

    fn from_dbs(dbs: Vec<GeoDb>, generation: u64) -> Result<GeoSet, GeoError> {
        let index_of = |kind: DbKind| dbs.iter().position(|d| d.kind == kind);
        let roles = index::Roles {
            place: index_of(DbKind::Enterprise)
                .or_else(|| index_of(DbKind::City))
                .or_else(|| index_of(DbKind::Country)),
            network: [
                DbKind::Isp,
                DbKind::Asn,
                DbKind::ConnectionType,
                DbKind::Domain,
            ]
            .into_iter()
            .filter_map(index_of)
            .collect(),
            anonymity: index_of(DbKind::AnonymousPlus).or_else(|| index_of(DbKind::AnonymousIp)),
        };
        let mut ids = index::Ids::default();
        let place_traits = |db: &GeoDb, ip: IpAddr| -> Result<bool, GeoError> {
            Ok(db
                .decode_record::<TraitsOnly>(ip)?
                .is_some_and(|t| !t.traits.is_empty()))
        };
        let v4 = index::build::<u32>(&dbs, &roles, &mut ids, "0.0.0.0/0", place_traits)?;
        let v6 = index::build::<u128>(&dbs, &roles, &mut ids, "::/0", place_traits)?;
        // The maps that numbered records are only needed while building (tens of MB).
        ids.forget_build_maps();
        // A build frees about as much as the index it leaves (the leaf lists it merged).
        crate::release_free_heap();
        Ok(GeoSet {
            places: Table::new(ids.place_at.len()),
            traits: Table::new(ids.traits_at.len()),
            anonymity: Table::new(ids.anonymity_at.len()),
            dbs,
            generation,
            loaded_at: SystemTime::now(),
            roles,
            ids,
            v4,
            v6,
        })
    }

    /// The database places come from (Enterprise, else City, else Country).
    pub fn place_db(&self) -> Option<&GeoDb> {
        self.roles.place.map(|n| &self.dbs[n])
    }

    /// The network databases (ISP, ASN, Connection-Type, Domain present), in precedence
    /// order: for one-off sweeps that decode what they need themselves (bulk requests)
    /// rather than fill the shared decode tables with records nobody asks for again.
    pub fn network_dbs(&self) -> impl Iterator<Item = &GeoDb> {
        self.roles.network.iter().map(|&n| &self.dbs[n])
    }

    /// Whether a database of this kind is loaded.
    pub fn has(&self, kind: DbKind) -> bool {
        self.dbs.iter().any(|d| d.kind == kind)
    }

    pub fn stats(&self) -> IndexStats {
        IndexStats {
            ipv4_blocks: self.v4.n_blocks(),
            ipv6_blocks: self.v6.n_blocks(),
            index_bytes: self.v4.heap_bytes() + self.v6.heap_bytes(),
            place_records: self.ids.place_at.len(),
            traits_records: self.ids.traits_at.len(),
            anonymity_records: self.ids.anonymity_at.len(),
            decoded_records: self.places.n_decoded()
                + self.traits.n_decoded()
                + self.anonymity.n_decoded(),
        }
    }

    /// Look `ip` up for a front end that treats reserved space and misses as errors
    /// (the MaxMind dialect). Others call `locate`.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoAnswer<'_>, GeoError> {
        if self.dbs.is_empty() {
            return Err(GeoError::NoDatabases);
        }
        if reserved::is_reserved(ip) {
            return Err(GeoError::Reserved(ip));
        }
        let answer = self.locate(ip)?;
        if answer.is_empty() {
            return Err(GeoError::NotFound(ip));
        }
        Ok(answer)
    }

    /// Everything every database says about `ip`, reserved or not, found or not.
    ///
    /// IPv6 forms that MMDB aliasing maps into the IPv4 tree (IPv4-mapped, IPv4-compatible,
    /// 6to4, Teredo) are answered from the IPv4 index, with the network in IPv6 terms.
    pub fn locate(&self, ip: IpAddr) -> Result<GeoAnswer<'_>, GeoError> {
        let (row, prefix_len) = match ip {
            IpAddr::V4(v4) => self.v4.find(u32::from(v4)),
            IpAddr::V6(v6) => match reserved::alias_ipv4(v6) {
                Some((v4, above)) => {
                    let (row, len) = self.v4.find(u32::from(v4));
                    (row, len + above)
                }
                None => self.v6.find(u128::from(v6)),
            },
        };
        let network = IpNet::new(ip, prefix_len)
            .expect("prefix length bounded by the family")
            .trunc();
        let place = match row[0] {
            index::NONE => None,
            id => Some(self.places.get_or_decode(id, || {
                let db = &self.dbs[self
                    .roles
                    .place
                    .expect("a place id implies a place database")];
                Ok(db
                    .decode_record(self.ids.place_at[id as usize])?
                    .unwrap_or_default())
            })?),
        };
        let network_traits = match row[1] {
            index::NONE => None,
            id => Some(self.traits.get_or_decode(id, || {
                let at = self.ids.traits_at[id as usize];
                let mut merged = NetworkTraits::default();
                for &n in &self.roles.network {
                    if let Some(t) = self.dbs[n].decode_record::<NetworkTraits>(at)? {
                        merged.fill_from(&t);
                    }
                }
                if let Some(p) = self.roles.place {
                    if let Some(t) = self.dbs[p].decode_record::<TraitsOnly>(at)? {
                        merged.fill_from(&t.traits);
                    }
                }
                Ok(merged)
            })?)
            .filter(|r| !r.data.is_empty()),
        };
        let anonymity = match row[2] {
            index::NONE => None,
            id => Some(self.anonymity.get_or_decode(id, || {
                let db = &self.dbs[self
                    .roles
                    .anonymity
                    .expect("an anonymity id implies its database")];
                Ok(db
                    .decode_record(self.ids.anonymity_at[id as usize])?
                    .unwrap_or_default())
            })?)
            .filter(|r| !r.data.is_empty()),
        };
        Ok(GeoAnswer {
            ip,
            network,
            place,
            network_traits,
            anonymity,
        })
    }
}

/// The `*.mmdb` files a list of paths names, directories expanded (sorted, for stable order).
fn expand_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, GeoError> {
    let mut files = Vec::new();
    for path in paths {
        let io_err = |e: std::io::Error| GeoError::Io {
            path: path.clone(),
            reason: e.to_string(),
        };
        let meta = std::fs::metadata(path).map_err(io_err)?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(io_err)?
                .filter_map(|entry| entry.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|ext| ext == "mmdb"))
                .collect();
            found.sort();
            files.extend(found);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Each file's (path, inode, size, mtime seconds, mtime nanoseconds).
type Fingerprint = Vec<(PathBuf, u64, u64, i64, i64)>;

/// A cheap summary of the files behind a set, to notice replacements (rename changes the
/// inode; an in-place rewrite changes size or mtime) and new files in watched directories.
fn fingerprint(paths: &[PathBuf]) -> Fingerprint {
    use std::os::unix::fs::MetadataExt;
    let files = expand_paths(paths).unwrap_or_default();
    files
        .into_iter()
        .map(|p| match std::fs::metadata(&p) {
            Ok(m) => (p, m.ino(), m.len(), m.mtime(), m.mtime_nsec()),
            Err(_) => (p, 0, 0, 0, 0),
        })
        .collect()
}

/// What a reload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new set is serving.
    Reloaded { generation: u64 },
    /// Nothing changed on disk.
    Unchanged,
}

/// The databases currently serving, and how to replace them.
pub struct GeoService {
    current: ArcSwap<GeoSet>,
    options: GeoOptions,
    generation: AtomicU64,
    /// Serialises reloads; what serves and what was last rejected.
    reload_state: Mutex<ReloadState>,
}

struct ReloadState {
    /// The files behind the serving set.
    serving: Fingerprint,
    /// Files on disk that failed to open, and why: not tried again until they change.
    rejected: Option<(Fingerprint, String)>,
}

impl GeoService {
    /// Open the configured databases. An empty path list is allowed (the service answers
    /// `NoDatabases`); a bad file is an error naming it.
    pub fn open(options: GeoOptions) -> Result<GeoService, GeoError> {
        let print = fingerprint(&options.paths);
        let set = GeoSet::open(&options, 1)?;
        Ok(GeoService {
            current: ArcSwap::from_pointee(set),
            options,
            generation: AtomicU64::new(1),
            reload_state: Mutex::new(ReloadState {
                serving: print,
                rejected: None,
            }),
        })
    }

    /// The serving set. Hold it for the length of one request.
    pub fn snapshot(&self) -> Arc<GeoSet> {
        self.current.load_full()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.options.paths
    }

    fn state(&self) -> std::sync::MutexGuard<'_, ReloadState> {
        self.reload_state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Reload if any file changed since the serving set was opened (`force` reloads anyway).
    /// Blocking: call from a blocking thread. On error the old set keeps serving, and the
    /// files are not tried again (without `force`) until they change once more.
    pub fn reload(&self, force: bool) -> Result<ReloadOutcome, GeoError> {
        let mut state = self.state();
        let print = fingerprint(&self.options.paths);
        if !force && print == state.serving {
            return Ok(ReloadOutcome::Unchanged);
        }
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let set = match GeoSet::open(&self.options, generation) {
            Ok(set) => set,
            Err(e) => {
                state.rejected = Some((print, e.to_string()));
                return Err(e);
            }
        };
        self.current.store(Arc::new(set));
        self.generation.store(generation, Ordering::Relaxed);
        // Remember what was opened only once it serves.
        state.serving = print;
        state.rejected = None;
        Ok(ReloadOutcome::Reloaded { generation })
    }

    /// Whether the files on disk differ both from the serving set and from the files last
    /// rejected (cheap: `stat` calls only). Files put back as they were end staleness.
    pub fn changed_on_disk(&self) -> bool {
        let mut state = self.state();
        let print = fingerprint(&self.options.paths);
        if print == state.serving {
            state.rejected = None;
            return false;
        }
        state
            .rejected
            .as_ref()
            .is_none_or(|(rejected, _)| *rejected != print)
    }

    /// Why the serving data is stale: a changed file on disk was rejected, so older data
    /// serves. `None` when the files on disk are the ones serving.
    pub fn stale(&self) -> Option<String> {
        self.state().rejected.as_ref().map(|(_, why)| why.clone())
    }
}
