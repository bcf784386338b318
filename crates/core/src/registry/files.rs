//! Registry files in the data directory: one per store generation
//! (`registry/generation-N.ipreg`), built from the store (the record of truth) by streaming
//! its texts through [`compact::Builder`], written under a temporary name and renamed into
//! place, opened with mmap. Older generations' files are removed once a newer one serves.

use std::path::{Path, PathBuf};

use super::compact::{self, Builder, OpenError, Prepared};
use super::index::{admit, Registry};
use super::rpsl::parse;
use crate::store::{SourceRow, Store, StoreError};

const PREFIX: &str = "generation-";
const SUFFIX: &str = ".ipreg";

/// Store chunks between two returns of freed heap to the system while building.
const TRIM_EVERY: usize = 64;

/// Temporary files older than this belong to a build that died.
const STALE_TEMP: std::time::Duration = std::time::Duration::from_secs(3600);

/// The file of store generation `generation` in `dir`.
pub fn path(dir: &Path, generation: i64) -> PathBuf {
    dir.join(format!("{PREFIX}{generation}{SUFFIX}"))
}

/// What the sources looked like when a file was built: a file whose sources differ (another
/// store, or a store restored from a backup at the same generation) is never served.
pub fn fingerprint(sources: &[SourceRow]) -> u64 {
    let lines: String = sources
        .iter()
        .map(|s| {
            format!(
                "{}\t{:?}\t{}\t{}\n",
                s.name, s.serial, s.imported_at, s.objects
            )
        })
        .collect();
    compact::digest64(&[lines.as_bytes()])
}

/// A file built: where, and the store generation and sources it holds.
#[derive(Debug)]
pub struct Built {
    pub path: PathBuf,
    pub generation: i64,
    pub sources: Vec<SourceRow>,
    pub objects: usize,
    /// Objects the store holds that could not be indexed (none unless the admission rules
    /// changed since they were imported), with the first reason.
    pub skipped: usize,
}

fn io(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Io(format!("{context}: {e}"))
}

/// Build the file of the store's current generation in `dir` from the store: texts are
/// read in chunks (a few in memory at a time) and written as they come; the indexes are
/// kept compactly until the end. Replaces a file of the same generation atomically.
pub async fn build(store: &Store, dir: &Path) -> Result<Built, StoreError> {
    std::fs::create_dir_all(dir).map_err(|e| io(&dir.display().to_string(), e))?;
    let (temp, file) = crate::create_scratch_file(dir, "generation", "tmp")
        .map_err(|e| io(&dir.display().to_string(), e))?;
    let (sink, mut chunks) = tokio::sync::mpsc::channel::<(String, String)>(4);
    let (head, header) = tokio::sync::oneshot::channel::<(i64, u64)>();
    let staging = dir.to_path_buf();
    let builder = tokio::task::spawn_blocking(move || -> Result<(usize, usize), String> {
        let out = std::io::BufWriter::with_capacity(1 << 20, file);
        let mut builder = Builder::staged_in(out, &staging).map_err(|e| e.to_string())?;
        // Chunks are parsed and their index entries worked out on every core; the
        // builder takes the objects in store order.
        let mut skipped = 0;
        let mut failed = None;
        let mut chunks_taken = 0usize;
        let taker = &mut builder;
        let (_, stopped) = super::parallel::in_order(
            |push: &mut dyn FnMut((String, String)) -> bool| -> Result<(), ()> {
                while let Some(chunk) = chunks.blocking_recv() {
                    if !push(chunk) {
                        break;
                    }
                }
                Ok(())
            },
            |(source, texts)| {
                let objects: Vec<Result<Prepared, String>> = parse(&texts)
                    .filter_map(Result::ok)
                    .map(|object| match admit(&object) {
                        Ok(facts) => Ok(Prepared::of(facts, object)),
                        Err(reason) => Err(reason),
                    })
                    .collect();
                (source, objects)
            },
            |(source, objects)| {
                chunks_taken += 1;
                if chunks_taken % TRIM_EVERY == 0 {
                    // Objects are parsed on other threads and freed here once added: the
                    // freed pages between the builder's tables go back as the build runs.
                    crate::release_free_heap();
                }
                for object in objects {
                    match object {
                        Ok(prepared) => {
                            if let Err(e) = taker.add_prepared(&source, prepared) {
                                failed = Some(e.to_string());
                                return false;
                            }
                        }
                        Err(reason) => {
                            if skipped == 0 {
                                tracing::warn!(%source, %reason, "a stored object cannot be indexed");
                            }
                            skipped += 1;
                        }
                    }
                }
                true
            },
        );
        if let Some(e) = failed {
            return Err(e);
        }
        if stopped {
            return Err("the registry file build stopped".into());
        }
        let objects = builder.len();
        let (generation, fingerprint) = header
            .blocking_recv()
            .map_err(|_| "the store read stopped".to_string())?;
        let out = builder
            .finish(generation, fingerprint)
            .map_err(|e| e.to_string())?;
        let file = out.into_inner().map_err(|e| e.to_string())?;
        file.sync_all().map_err(|e| e.to_string())?;
        // The build's staging (key maps, postings) goes back to the system now.
        crate::release_free_heap();
        Ok((objects, skipped))
    });
    let read = store.registry_stream(sink).await;
    let (generation, sources) = match read {
        Ok(read) => read,
        Err(e) => {
            drop(head);
            // When the builder failed first, its reason is the one to give.
            let built = builder.await;
            let _ = std::fs::remove_file(&temp);
            return Err(match built {
                Ok(Err(why)) => io(&temp.display().to_string(), why),
                _ => e,
            });
        }
    };
    let _ = head.send((generation, fingerprint(&sources)));
    let built = builder
        .await
        .map_err(|e| io("registry file build", e))
        .and_then(|r| r.map_err(|e| io(&temp.display().to_string(), e)));
    let (objects, skipped) = match built {
        Ok(counts) => counts,
        Err(e) => {
            let _ = std::fs::remove_file(&temp);
            return Err(e);
        }
    };
    let path = path(dir, generation);
    std::fs::rename(&temp, &path).map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        io(&path.display().to_string(), e)
    })?;
    // The rename is durable once the directory is.
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(Built {
        path,
        generation,
        sources,
        objects,
        skipped,
    })
}

/// Open the file of `generation`, or build it from the store when it is missing, stale or
/// damaged (saying which, and why, in the log). Returns the registry and the sources of the
/// generation it holds (which can be newer than `generation` when the store moved on
/// meanwhile).
pub async fn open_or_build(
    store: &Store,
    dir: &Path,
    generation: i64,
    sources: Vec<SourceRow>,
) -> Result<(Registry, i64, Vec<SourceRow>), StoreError> {
    let file = path(dir, generation);
    let wanted = fingerprint(&sources);
    let opening = file.clone();
    let opened =
        tokio::task::spawn_blocking(move || Registry::open_file(&opening, generation, wanted))
            .await
            .map_err(|e| io("registry file open", e))?;
    match opened {
        Ok(registry) => {
            tracing::info!(file = %file.display(), objects = registry.len(), generation, "registry file opened");
            return Ok((registry, generation, sources));
        }
        Err(OpenError::Missing) => tracing::info!(
            file = %file.display(),
            "registry file missing: building it from the store"
        ),
        Err(e) => tracing::warn!(
            file = %file.display(),
            reason = %e,
            "registry file cannot be used: building it again from the store"
        ),
    }
    let started = std::time::Instant::now();
    let built = build(store, dir).await?;
    tracing::info!(
        file = %built.path.display(),
        objects = built.objects,
        skipped = built.skipped,
        generation = built.generation,
        seconds = format!("{:.1}", started.elapsed().as_secs_f64()),
        "registry file built"
    );
    let (path, generation) = (built.path.clone(), built.generation);
    let want = fingerprint(&built.sources);
    let registry =
        tokio::task::spawn_blocking(move || Registry::open_file(&path, generation, want))
            .await
            .map_err(|e| io("registry file open", e))?
            .map_err(|e| io(&built.path.display().to_string(), e))?;
    Ok((registry, built.generation, built.sources))
}

/// Remove the files of generations older than `keep` (a newer one may be another
/// process's, just built), and temporary, spill or staging files left by processes that
/// died (an hour old: a live import's spill file is younger, or still being written).
/// Readers of a removed file keep their mapping until they let it go.
pub fn remove_others(dir: &Path, keep: i64) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let old_generation = name
            .strip_prefix(PREFIX)
            .and_then(|n| n.strip_suffix(SUFFIX))
            .and_then(|n| n.parse::<i64>().ok())
            .is_some_and(|g| g < keep);
        // A build's temporary or staging file (staging files are unlinked as soon as they
        // are made: only a process killed in between leaves one) or an import's spill
        // file, left by a process that died.
        let dead_temp = name.starts_with('.')
            && [".tmp", ".spill", ".staging"]
                .iter()
                .any(|end| name.ends_with(end))
            && entry
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|m| m.elapsed().ok())
                .is_some_and(|age| age > STALE_TEMP);
        if old_generation || dead_temp {
            match std::fs::remove_file(entry.path()) {
                Ok(()) => {
                    tracing::debug!(file = %entry.path().display(), "old registry file removed")
                }
                Err(e) => {
                    tracing::warn!(file = %entry.path().display(), error = %e, "old registry file not removed")
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::key::{parse_range, Family};
    use crate::registry::service::import;

    const DUMP: &str = "\
inetnum: 192.0.2.0 - 192.0.2.255
netname: EXAMPLE-NET
admin-c: AE1-TEST
mnt-by: EX-MNT
source: TEST

inet6num: 2001:db8::/32
netname: EXAMPLE-V6
source: TEST

route: 192.0.2.0/24
origin: AS64496
member-of: RS-EX
mnt-by: EX-MNT
source: TEST

route-set: RS-EX
mbrs-by-ref: ANY
source: TEST

person: Ann Example
nic-hdl: AE1-TEST
source: TEST

aut-num: AS64496
as-name: EXAMPLE
source: TEST

as-block: AS64496 - AS64511
source: TEST
";

    /// Every index answers the same from a mapped file as from a generation built in
    /// memory from the same objects.
    fn same_answers(a: &Registry, b: &Registry) {
        assert_eq!(a.len(), b.len());
        let q = parse_range("192.0.2.7").unwrap().1;
        let spans = |r: &Registry| {
            r.ranges(Family::V4, super::super::index::RangeKind::Network)
                .and_then(|i| i.most_specific(q))
                .map(|(s, ids)| (s, ids.len()))
        };
        assert_eq!(spans(a), spans(b));
        assert!(spans(a).is_some());
        for r in [a, b] {
            let person = r.get("TEST", "person", "ae1-test").expect("primary key");
            assert_eq!(r.object(person).object.value("nic-hdl"), Some("AE1-TEST"));
            assert_eq!(r.text("ann example"), [person]);
            assert_eq!(r.inverse("mnt-by", "ex-mnt").len(), 2);
            assert_eq!(r.aut_num(64496).len(), 1);
            assert!(r.as_block(64500).is_some());
            assert_eq!(r.origin_prefixes(64496, Family::V4), ["192.0.2.0/24"]);
            assert_eq!(
                r.set_members("RS-EX", &[]).unwrap(),
                ["192.0.2.0/24"],
                "member-of through the inverse index"
            );
        }
    }

    async fn store_with_dump(dir: &Path) -> Store {
        let store = Store::open_sqlite(&dir.join("s.db")).await.unwrap();
        let file = dir.join("dump.db");
        std::fs::write(&file, DUMP).unwrap();
        import(&store, "TEST", &[file], Some(7), &mut ())
            .await
            .unwrap();
        store
    }

    #[tokio::test]
    async fn a_file_built_from_the_store_answers_like_memory_and_is_opened_not_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_dump(dir.path()).await;
        let files = dir.path().join("registry");
        let built = build(&store, &files).await.unwrap();
        assert_eq!((built.objects, built.skipped), (7, 0));
        assert_eq!(built.generation, store.registry_generation().await.unwrap());
        let sources = store.registry_sources().await.unwrap();
        let mapped =
            Registry::open_file(&built.path, built.generation, fingerprint(&sources)).unwrap();
        let memory = Registry::build(parse(DUMP).map(|o| ("TEST".to_owned(), o.unwrap()))).0;
        same_answers(&mapped, &memory);

        // Opened as it is: the file is not written again.
        let modified = std::fs::metadata(&built.path).unwrap().modified().unwrap();
        let (registry, generation, _) =
            open_or_build(&store, &files, built.generation, sources.clone())
                .await
                .unwrap();
        assert_eq!((registry.len(), generation), (7, built.generation));
        assert_eq!(
            std::fs::metadata(&built.path).unwrap().modified().unwrap(),
            modified
        );

        // Another generation's file, or other sources, are never read as this one.
        assert!(matches!(
            Registry::open_file(&built.path, built.generation + 1, fingerprint(&sources)),
            Err(OpenError::Stale { .. })
        ));
        assert!(Registry::open_file(&built.path, built.generation, 1).is_err());
        assert!(matches!(
            Registry::open_file(&files.join("nothing"), 1, 1),
            Err(OpenError::Missing)
        ));
    }

    /// A build that stages its entries in files writes the same bytes as one that keeps
    /// them in memory, and leaves no staging file behind.
    #[test]
    fn staged_and_in_memory_builds_write_the_same_file() {
        let dir = tempfile::tempdir().unwrap();
        let write = |mut builder: Builder<std::io::Cursor<Vec<u8>>>| {
            for object in parse(DUMP).map(Result::unwrap) {
                builder
                    .add("TEST", admit(&object).unwrap(), &object)
                    .unwrap();
            }
            builder.finish(3, 4).unwrap().into_inner()
        };
        let memory = write(Builder::new(std::io::Cursor::new(Vec::new())).unwrap());
        let staged =
            write(Builder::staged_in(std::io::Cursor::new(Vec::new()), dir.path()).unwrap());
        assert!(memory == staged, "the same bytes");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "staging files are gone"
        );
        let registry = Registry::open(compact::Bytes::heap(&staged)).unwrap();
        let reference = Registry::build(parse(DUMP).map(|o| ("TEST".to_owned(), o.unwrap()))).0;
        same_answers(&registry, &reference);
    }

    #[tokio::test]
    async fn a_cut_or_foreign_file_is_refused_and_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        let store = store_with_dump(dir.path()).await;
        let files = dir.path().join("registry");
        let built = build(&store, &files).await.unwrap();
        let sources = store.registry_sources().await.unwrap();
        let whole = std::fs::read(&built.path).unwrap();
        let print = fingerprint(&sources);
        for (what, bytes) in [
            ("cut short", whole[..whole.len() - 9].to_vec()),
            ("cut in its header", whole[..40].to_vec()),
            ("empty", Vec::new()),
            ("not a registry file", b"person: A\n".repeat(100)),
            ("header changed", {
                let mut b = whole.clone();
                b[20] ^= 1;
                b
            }),
            ("a section moved outside", {
                let mut b = whole.clone();
                b[compact::HEADER_LEN + 8] = 0xff;
                b
            }),
        ] {
            std::fs::write(&built.path, &bytes).unwrap();
            assert!(
                matches!(
                    Registry::open_file(&built.path, built.generation, print),
                    Err(OpenError::Damaged(_))
                ),
                "{what}"
            );
            let (registry, _, _) = open_or_build(&store, &files, built.generation, sources.clone())
                .await
                .unwrap();
            assert_eq!(registry.len(), 7, "{what}: rebuilt from the store");
            assert_eq!(std::fs::read(&built.path).unwrap(), whole, "{what}");
        }
        // A file of an older generation goes once a newer one serves.
        let old = path(&files, built.generation - 1);
        std::fs::write(&old, b"old").unwrap();
        let newer = path(&files, built.generation + 1);
        std::fs::write(&newer, b"another process's").unwrap();
        // Spill and temporary files: an hour old belongs to a dead process, younger may
        // be a live import's.
        let dead = files.join(".import-1-0.spill");
        let live = files.join(".import-2-0.spill");
        let dead_build = files.join(".generation-1-0.tmp");
        let dead_staging = files.join(".objects-1-0.staging");
        for file in [&dead, &live, &dead_build, &dead_staging] {
            std::fs::write(file, b"texts").unwrap();
        }
        let two_hours_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
        for file in [&dead, &dead_build, &dead_staging] {
            std::fs::File::options()
                .write(true)
                .open(file)
                .unwrap()
                .set_modified(two_hours_ago)
                .unwrap();
        }
        remove_others(&files, built.generation);
        assert!(!old.exists() && built.path.exists() && newer.exists());
        assert!(!dead.exists() && !dead_build.exists() && live.exists());
        assert!(!dead_staging.exists());
    }

    /// Bytes changed anywhere inside the sections (not the checked header) must never
    /// panic or loop: answers may be wrong, the server stays up.
    #[test]
    fn damaged_sections_never_panic() {
        use proptest::prelude::*;
        let mut builder = Builder::new(std::io::Cursor::new(Vec::new())).unwrap();
        for object in parse(DUMP).map(Result::unwrap) {
            let facts = admit(&object).unwrap();
            builder.add("TEST", facts, &object).unwrap();
        }
        let whole = builder.finish(1, 2).unwrap().into_inner();
        let body = compact::HEADER_LEN + 16 * compact::section::COUNT;
        let mut runner = proptest::test_runner::TestRunner::new(ProptestConfig::with_cases(300));
        runner
            .run(
                &proptest::collection::vec((body..whole.len() - 8, any::<u8>()), 1..40),
                |changes| {
                    let mut bytes = whole.clone();
                    for (at, value) in changes {
                        bytes[at] = value;
                    }
                    let Ok(r) = Registry::open(compact::Bytes::heap(&bytes)) else {
                        return Ok(());
                    };
                    for id in 0..r.len() as u32 + 2 {
                        let _ = r.object(id);
                        let _ = r.origin(id);
                    }
                    let _ = r.get("TEST", "person", "AE1-TEST");
                    let _ = r.text("ann example");
                    let _ = r.inverse("mnt-by", "ex-mnt");
                    let _ = r.as_block(64500);
                    let _ = r.aut_num(64496);
                    let _ = r.origin_prefixes(64496, Family::V4);
                    let _ = r.set_prefixes("RS-EX", None, &[], &[]);
                    for family in [Family::V4, Family::V6] {
                        for kind in [
                            super::super::index::RangeKind::Network,
                            super::super::index::RangeKind::Route,
                        ] {
                            if let Some(index) = r.ranges(family, kind) {
                                let all = crate::registry::ranges::Span::new(0, u128::MAX).unwrap();
                                let _ = index.all_more(all);
                                let _ = index.one_more(all);
                                let _ = index.containing(all);
                            }
                        }
                    }
                    Ok(())
                },
            )
            .unwrap();
    }
}
