//! The GeoIP engine: a set of MMDB databases, merged into one answer per address.
//!
//! `GeoService` owns the current `GeoSet` behind an atomic pointer. A lookup takes a snapshot
//! of the set, so a reload never disturbs a request in flight: it finishes on the old set,
//! which is dropped (and its files unmapped) when the last such request ends.
//!
//! The hot path walks each database's search tree and fetches decoded records from caches
//! keyed by data-section offset; decoding happens once per distinct record.

mod db;
pub mod build;
pub mod record;
pub mod reserved;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use ipnet::IpNet;
use quick_cache::sync::Cache;

pub use db::{DbKind, GeoDb};
pub use record::{
    AnonymityRecord, GeoAnswer, MemoSlot, NetworkTraits, PlaceRecord, Record, MEMO_SLOTS,
};

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
    /// Decoded records kept per cache (place, network traits, anonymity).
    pub cache_records: usize,
}

/// Cache key of merged network traits: the offsets of each contributing record.
type TraitsKey = [Option<usize>; 5];

/// An immutable set of open databases with their record caches.
pub struct GeoSet {
    pub dbs: Vec<GeoDb>,
    pub generation: u64,
    pub loaded_at: SystemTime,
    place: Option<usize>,
    /// Network-trait databases in precedence order (ISP, ASN, Connection-Type, Domain).
    network: Vec<usize>,
    anonymity: Option<usize>,
    place_cache: Cache<usize, Arc<Record<PlaceRecord>>>,
    traits_cache: Cache<TraitsKey, Arc<Record<NetworkTraits>>>,
    anonymity_cache: Cache<usize, Arc<Record<AnonymityRecord>>>,
}

impl std::fmt::Debug for GeoSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoSet")
            .field("dbs", &self.dbs)
            .field("generation", &self.generation)
            .finish()
    }
}

impl GeoSet {
    /// Open every database the options name. Fails on the first file that cannot be used,
    /// naming it; two databases of one kind keep the first and log the second.
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
        Ok(GeoSet::from_dbs(dbs, generation, options.cache_records))
    }

    fn from_dbs(dbs: Vec<GeoDb>, generation: u64, cache_records: usize) -> GeoSet {
        let index_of = |kind: DbKind| dbs.iter().position(|d| d.kind == kind);
        let place = index_of(DbKind::Enterprise)
            .or_else(|| index_of(DbKind::City))
            .or_else(|| index_of(DbKind::Country));
        let network = [DbKind::Isp, DbKind::Asn, DbKind::ConnectionType, DbKind::Domain]
            .into_iter()
            .filter_map(index_of)
            .collect();
        let anonymity = index_of(DbKind::AnonymousPlus).or_else(|| index_of(DbKind::AnonymousIp));
        let cache_records = cache_records.max(16);
        GeoSet {
            dbs,
            generation,
            loaded_at: SystemTime::now(),
            place,
            network,
            anonymity,
            place_cache: Cache::new(cache_records),
            traits_cache: Cache::new(cache_records),
            anonymity_cache: Cache::new(cache_records / 4),
        }
    }

    /// Whether a database of this kind is loaded.
    pub fn has(&self, kind: DbKind) -> bool {
        self.dbs.iter().any(|d| d.kind == kind)
    }

    /// Everything every database says about `ip`, reserved or not, found or not.
    pub fn locate(&self, ip: IpAddr) -> Result<GeoAnswer, GeoError> {
        let max_len = if ip.is_ipv4() { 32 } else { 128 };
        let mut narrowest = 0u8;
        let mut narrow = |len: Option<u8>| {
            if let Some(len) = len {
                narrowest = narrowest.max(len.min(max_len));
            }
        };

        let mut place = None;
        let mut place_has_traits = None;
        if let Some(i) = self.place {
            let db = &self.dbs[i];
            let hit = db.hit(ip)?;
            narrow(hit.prefix_len);
            if let Some(offset) = hit.offset {
                let record = self.place_cache.get_or_insert_with(&offset, || {
                    let data: PlaceRecord = db.decode_record(ip)?.unwrap_or_default();
                    Ok::<_, GeoError>(Arc::new(Record::new(data)))
                })?;
                if !record.data.traits.is_empty() {
                    place_has_traits = Some(offset);
                }
                place = Some(record);
            }
        }

        // Network traits merge the dedicated databases with the traits a City/Enterprise
        // record carries; the key holds the place offset only when that record has traits,
        // so the common case (GeoLite2 City + ASN) caches by the ASN record alone.
        let mut key: TraitsKey = [None; 5];
        key[0] = place_has_traits;
        for (slot, &i) in self.network.iter().enumerate() {
            let hit = self.dbs[i].hit(ip)?;
            narrow(hit.prefix_len);
            key[slot + 1] = hit.offset;
        }
        let network_traits = if key.iter().any(Option::is_some) {
            let record = self.traits_cache.get_or_insert_with(&key, || {
                let mut merged = NetworkTraits::default();
                for (slot, &i) in self.network.iter().enumerate() {
                    if key[slot + 1].is_some() {
                        if let Some(t) = self.dbs[i].decode_record::<NetworkTraits>(ip)? {
                            merged.fill_from(&t);
                        }
                    }
                }
                if let Some(place) = &place {
                    merged.fill_from(&place.data.traits);
                }
                Ok::<_, GeoError>(Arc::new(Record::new(merged)))
            })?;
            (!record.data.is_empty()).then_some(record)
        } else {
            None
        };

        let mut anonymity = None;
        if let Some(i) = self.anonymity {
            let db = &self.dbs[i];
            let hit = db.hit(ip)?;
            narrow(hit.prefix_len);
            if let Some(offset) = hit.offset {
                let record = self.anonymity_cache.get_or_insert_with(&offset, || {
                    let data: AnonymityRecord = db.decode_record(ip)?.unwrap_or_default();
                    Ok::<_, GeoError>(Arc::new(Record::new(data)))
                })?;
                anonymity = (!record.data.is_empty()).then_some(record);
            }
        }

        let network = IpNet::new(ip, narrowest)
            .expect("prefix length bounded by the family")
            .trunc();
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

/// A cheap summary of the files behind a set, to notice replacements (rename changes the
/// inode; an in-place rewrite changes size or mtime) and new files in watched directories.
fn fingerprint(paths: &[PathBuf]) -> Vec<(PathBuf, u64, u64, i64, i64)> {
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
    /// Serialises reloads and holds the fingerprint of the serving files.
    reload_state: Mutex<Vec<(PathBuf, u64, u64, i64, i64)>>,
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
            reload_state: Mutex::new(print),
        })
    }

    /// The serving set. Hold it for the length of one request.
    pub fn snapshot(&self) -> Arc<GeoSet> {
        self.current.load_full()
    }

    pub fn paths(&self) -> &[PathBuf] {
        &self.options.paths
    }

    /// Look `ip` up for a front end that treats reserved space and misses as errors
    /// (the MaxMind dialect). Others call `GeoSet::locate` on a snapshot.
    pub fn lookup(&self, ip: IpAddr) -> Result<(Arc<GeoSet>, GeoAnswer), GeoError> {
        let set = self.snapshot();
        if set.dbs.is_empty() {
            return Err(GeoError::NoDatabases);
        }
        if reserved::is_reserved(ip) {
            return Err(GeoError::Reserved(ip));
        }
        let answer = set.locate(ip)?;
        if answer.is_empty() {
            return Err(GeoError::NotFound(ip));
        }
        Ok((set, answer))
    }

    /// Reload if any file changed since the serving set was opened (`force` reloads anyway).
    /// Blocking: call from a blocking thread. On error the old set keeps serving.
    pub fn reload(&self, force: bool) -> Result<ReloadOutcome, GeoError> {
        let mut serving = self.reload_state.lock().unwrap_or_else(|e| e.into_inner());
        let print = fingerprint(&self.options.paths);
        if !force && print == *serving {
            return Ok(ReloadOutcome::Unchanged);
        }
        let generation = self.generation.load(Ordering::Relaxed) + 1;
        let set = GeoSet::open(&self.options, generation)?;
        self.current.store(Arc::new(set));
        self.generation.store(generation, Ordering::Relaxed);
        // Remember what was opened only once it serves, so a bad file is retried (and
        // reported) on the next check rather than silently skipped.
        *serving = print;
        Ok(ReloadOutcome::Reloaded { generation })
    }

    /// Whether the files on disk differ from the serving set (cheap: `stat` calls only).
    pub fn changed_on_disk(&self) -> bool {
        let serving = self.reload_state.lock().unwrap_or_else(|e| e.into_inner());
        fingerprint(&self.options.paths) != *serving
    }

    pub fn open_path(path: &Path, verify: bool) -> Result<GeoDb, GeoError> {
        GeoDb::open(path, verify)
    }
}
