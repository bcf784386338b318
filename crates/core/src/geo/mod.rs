//! The GeoIP engine: a set of MMDB databases, merged into one answer per address.
//!
//! `GeoService` owns the current `GeoSet` behind an atomic pointer. A lookup takes a snapshot
//! of the set, so a reload never disturbs a request in flight: it finishes on the old set,
//! which is dropped (and its memory freed) when the last such request ends.
//!
//! A lookup walks each database's search tree (a few hundred nanoseconds, no index to
//! build or hold) and takes the records it lands on from `cache`: decoded once, rendered
//! once per dialect form, kept within a byte budget with hot records kept hot.

pub mod build;
mod cache;
pub mod country;
mod db;
pub mod local;
mod memo;
pub mod raw;
pub mod record;
mod rendering;
pub mod reserved;
mod summary;

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use arc_swap::ArcSwap;
use ipnet::IpNet;

use cache::RecordCache;

pub use cache::{CacheStats, Keep, SharedRenderings};
pub use db::{DbKind, GeoDb, Hit};
pub use memo::RecordKey;
pub use record::{
    AnonymityRecord, GeoAnswer, MemoSlot, NetworkTraits, PlaceForm, PlaceRecord, PlaceRenderer,
    Record, RenderedPlace,
};
pub use rendering::{Rendering, Sink};
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
    /// Byte budget of decoded records and their renderings (`geo.cache_mb`).
    pub cache_bytes: u64,
}

/// The default record cache budget: 48 MiB.
pub const DEFAULT_CACHE_BYTES: u64 = 48 << 20;

/// Which loaded database plays which part in an answer.
struct Roles {
    /// Enterprise, else City, else Country.
    place: Option<usize>,
    /// ISP, ASN, Connection-Type, Domain present, in that (precedence) order.
    network: Vec<usize>,
    /// Anonymous-Plus, else Anonymous-IP.
    anonymity: Option<usize>,
}

/// An immutable set of open databases and the cache of their decoded records.
pub struct GeoSet {
    pub dbs: Vec<GeoDb>,
    pub generation: u64,
    pub loaded_at: SystemTime,
    roles: Roles,
    cache: RecordCache,
}

impl std::fmt::Debug for GeoSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeoSet")
            .field("dbs", &self.dbs)
            .field("generation", &self.generation)
            .finish()
    }
}

/// "No record" in a traits key.
const NO_OFFSET: u64 = u64::MAX;

impl GeoSet {
    /// Open every database the options name. Fails on the first file that cannot be used,
    /// naming it; two databases of one kind keep the first and log it.
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
        // Verification walks whole files: give its temporary memory back.
        crate::release_free_heap();
        Ok(GeoSet::from_dbs(dbs, generation, options.cache_bytes))
    }

    fn from_dbs(dbs: Vec<GeoDb>, generation: u64, cache_bytes: u64) -> GeoSet {
        let index_of = |kind: DbKind| dbs.iter().position(|d| d.kind == kind);
        let roles = Roles {
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
        GeoSet {
            cache: RecordCache::new(cache_bytes),
            dbs,
            generation,
            loaded_at: SystemTime::now(),
            roles,
        }
    }

    /// The database places come from (Enterprise, else City, else Country).
    pub fn place_db(&self) -> Option<&GeoDb> {
        self.roles.place.map(|n| &self.dbs[n])
    }

    /// The network databases (ISP, ASN, Connection-Type, Domain present), in precedence
    /// order: for one-off sweeps that decode what they need themselves (the bulk summary)
    /// rather than fill the record cache with records nobody asks for again.
    pub fn network_dbs(&self) -> impl Iterator<Item = &GeoDb> {
        self.roles.network.iter().map(|&n| &self.dbs[n])
    }

    /// Whether a database of this kind is loaded.
    pub fn has(&self, kind: DbKind) -> bool {
        self.dbs.iter().any(|d| d.kind == kind)
    }

    /// The record cache's counters.
    pub fn cache_stats(&self) -> CacheStats {
        self.cache.stats()
    }

    /// Look `ip` up for a front end that treats reserved space and misses as errors.
    pub fn lookup(&self, ip: IpAddr) -> Result<GeoAnswer<'_>, GeoError> {
        self.lookup_as(ip, PlaceForm::Decoded)
    }

    /// `lookup`, with the place record in the form the caller renders from.
    pub fn lookup_as(&self, ip: IpAddr, form: PlaceForm) -> Result<GeoAnswer<'_>, GeoError> {
        if self.dbs.is_empty() {
            return Err(GeoError::NoDatabases);
        }
        if reserved::is_reserved(ip) {
            return Err(GeoError::Reserved(ip));
        }
        let answer = self.locate_as(ip, form)?;
        if answer.is_empty() {
            return Err(GeoError::NotFound(ip));
        }
        Ok(answer)
    }

    /// Everything every database says about `ip`, reserved or not, found or not: one walk
    /// of each database's search tree, records from the cache (decoded on a miss).
    ///
    /// IPv6 forms that MMDB aliasing maps into the IPv4 tree (IPv4-mapped, IPv4-compatible,
    /// 6to4, Teredo) are answered as their IPv4 address, with the network in IPv6 terms.
    pub fn locate(&self, ip: IpAddr) -> Result<GeoAnswer<'_>, GeoError> {
        self.locate_as(ip, PlaceForm::Decoded)
    }

    /// `locate`, with the place record in the form the caller renders from.
    pub fn locate_as(&self, ip: IpAddr, form: PlaceForm) -> Result<GeoAnswer<'_>, GeoError> {
        let (query, above) = match ip {
            IpAddr::V6(v6) => match reserved::alias_ipv4(v6) {
                Some((v4, above)) => (IpAddr::V4(v4), above),
                None => (ip, 0),
            },
            v4 => (v4, 0),
        };
        // One walk per database; a cache miss decodes from the walk it already made.
        let mut narrowest = 0u8;
        let mut hit = |n: usize| -> Result<Hit<'_>, GeoError> {
            let hit = self.dbs[n].hit(query)?;
            narrowest = narrowest.max(hit.prefix_len.unwrap_or(0));
            Ok(hit)
        };
        let at = |hit: &Hit<'_>| hit.offset.map(|o| o as u64);
        let place_hit = self.roles.place.map(&mut hit).transpose()?;
        let place_at = place_hit.as_ref().and_then(at);
        let mut traits_key = [NO_OFFSET; 5];
        let mut network_hits: [Option<Hit<'_>>; 4] = [None, None, None, None];
        for (slot, &n) in self.roles.network.iter().enumerate() {
            let found = hit(n)?;
            traits_key[slot] = at(&found).unwrap_or(NO_OFFSET);
            network_hits[slot] = Some(found);
        }
        let anonymity_hit = self.roles.anonymity.map(&mut hit).transpose()?;
        let anonymity_at = anonymity_hit.as_ref().and_then(at);
        let network = IpNet::new(ip, narrowest + above)
            .expect("prefix length bounded by the family")
            .trunc();

        let (mut place, mut rendered_place) = (None, None);
        if let (Some(found), Some(at)) = (&place_hit, place_at) {
            match form {
                PlaceForm::Decoded => {
                    place = Some(self.cache.place(RecordKey::Place(at), || {
                        Ok::<_, GeoError>(found.decode()?.unwrap_or_default())
                    })?)
                }
                PlaceForm::Rendered(renderer) => {
                    rendered_place = Some(self.cache.rendered_place(
                        RecordKey::RenderedPlace(at, renderer.form),
                        renderer,
                        || found.node()?.ok_or(GeoError::NotFound(ip)),
                        || found.decode_traits(),
                        |e| found.raw_error(e),
                    )?)
                }
            }
        }
        // The place record's own traits (rare: `is_anycast` in City) join the key only when
        // it has some, so the many places without traits share one merged record per network
        // record instead of one per (network, place) pair.
        let place_traits = match (&place, &rendered_place) {
            (Some(p), _) => Some(&p.data.traits),
            (None, Some(r)) => r.traits.as_deref(),
            (None, None) => None,
        }
        .filter(|t| !t.is_empty());
        traits_key[4] = place_at
            .filter(|_| place_traits.is_some())
            .unwrap_or(NO_OFFSET);
        let network_traits = if traits_key.iter().all(|&o| o == NO_OFFSET) {
            None
        } else {
            Some(self.cache.traits(RecordKey::Traits(traits_key), || {
                let mut merged = NetworkTraits::default();
                for found in network_hits.iter().flatten() {
                    if let Some(t) = found.decode::<NetworkTraits>()? {
                        merged.fill_from(&t);
                    }
                }
                if let Some(traits) = place_traits {
                    merged.fill_from(traits);
                }
                Ok::<_, GeoError>(merged)
            })?)
            .filter(|r| !r.data.is_empty())
        };
        let anonymity = match (&anonymity_hit, anonymity_at) {
            (Some(found), Some(at)) => {
                Some(self.cache.anonymity(RecordKey::Anonymity(at), || {
                    Ok::<_, GeoError>(found.decode()?.unwrap_or_default())
                })?)
                .filter(|r| !r.data.is_empty())
            }
            _ => None,
        };
        Ok(GeoAnswer {
            ip,
            network,
            place,
            rendered_place,
            network_traits,
            anonymity,
            set: std::marker::PhantomData,
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
